// Enrollment: the agent trades the one-time token from `twinboot machine add` (or the web app)
// for a machine credential, which from then on authenticates it and only it.
import { and, eq, gt } from "drizzle-orm";
import { db } from "@/db/client";
import { machines } from "@/db/schema";
import { recordAudit } from "@/server/audit/record-audit";
import { hashToken, newToken } from "@/server/auth/token";
import { NotAuthenticatedError } from "@/server/errors";
import type { RequestMeta } from "@/server/request-meta";
import { AGENT_CREDENTIAL_PREFIX, type TEnrollResponse } from "@/wire/agent";

export async function enrollAgent(enrollmentToken: string, meta: RequestMeta): Promise<TEnrollResponse> {
  const credential = newToken(AGENT_CREDENTIAL_PREFIX);
  return db().transaction(async (tx) => {
    // One UPDATE both checks and spends the token, so two agents racing with it cannot both win.
    const [machine] = await tx
      .update(machines)
      .set({
        agentCredentialHash: hashToken(credential),
        enrollmentTokenHash: null,
        enrollmentTokenExpiresAt: null,
        enrolledAt: new Date(),
      })
      .where(
        and(eq(machines.enrollmentTokenHash, hashToken(enrollmentToken)), gt(machines.enrollmentTokenExpiresAt, new Date())),
      )
      .returning({ id: machines.id, name: machines.name, ownerId: machines.ownerId });
    if (!machine) {
      throw new NotAuthenticatedError(
        "That enrollment token is not valid: it was already used, has expired, or was replaced. Make a new one on the machine's page or with `twinboot machine add`.",
      );
    }
    await recordAudit(tx, { userId: machine.ownerId, action: "machine_enrolled", meta, byUser: false, detail: { machineId: machine.id } });
    return { machineId: machine.id, machineName: machine.name, credential };
  });
}
