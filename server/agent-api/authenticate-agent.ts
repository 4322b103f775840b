// Agent requests carry `Authorization: Bearer tba_…`; the credential names exactly one machine.
import { eq } from "drizzle-orm";
import { db } from "@/db/client";
import { machines } from "@/db/schema";
import { hashToken } from "@/server/auth/token";
import { ForbiddenError, NotAuthenticatedError } from "@/server/errors";
import { AGENT_CREDENTIAL_PREFIX } from "@/wire/agent";
import type { AgentMachine } from "@/wire/identity";

export async function authenticateAgent(headers: Headers): Promise<AgentMachine> {
  const match = /^Bearer (\S+)$/.exec(headers.get("authorization") ?? "");
  const credential = match?.[1];
  if (!credential?.startsWith(AGENT_CREDENTIAL_PREFIX)) {
    throw new NotAuthenticatedError("This request needs the machine credential the agent got at enrollment.");
  }
  const [machine] = await db()
    .select({ id: machines.id, name: machines.name, ownerId: machines.ownerId, lastAgentImageId: machines.lastAgentImageId })
    .from(machines)
    .where(eq(machines.agentCredentialHash, hashToken(credential)));
  if (!machine) {
    throw new NotAuthenticatedError("That machine credential is not valid (the machine was deleted or enrolled again). Enroll the agent again.");
  }
  return machine;
}

/** A machine's credential acts on that machine only. */
export function assertSameMachine(agent: AgentMachine, machineId: string): void {
  if (agent.id !== machineId) throw new ForbiddenError("This machine credential belongs to another machine.");
}
