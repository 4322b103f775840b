// Changing one's password: the current one is required, the new one must pass the policy,
// and every other session of the user is ended.
import { and, eq, isNull, ne } from "drizzle-orm";
import { db } from "@/db/client";
import { authSessions, users } from "@/db/schema";
import { recordAudit } from "@/server/audit/record-audit";
import { confirmIdentity } from "@/server/auth/confirm-identity";
import { hashPassword, passwordProblem } from "@/server/auth/password";
import { InvalidInputError } from "@/server/errors";
import type { RequestMeta } from "@/server/request-meta";

export async function changePassword(
  input: { userId: string; email: string; currentSessionId: string; currentPassword: string; newPassword: string },
  meta: RequestMeta,
): Promise<{ otherSessionsEnded: number }> {
  await confirmIdentity(input.userId, { password: input.currentPassword }, meta);
  const problem = passwordProblem(input.newPassword, input.email);
  if (problem) throw new InvalidInputError(problem);
  const passwordHash = await hashPassword(input.newPassword);
  return db().transaction(async (tx) => {
    await tx.update(users).set({ passwordHash }).where(eq(users.id, input.userId));
    const ended = await tx
      .update(authSessions)
      .set({ revokedAt: new Date() })
      .where(
        and(
          eq(authSessions.userId, input.userId),
          ne(authSessions.id, input.currentSessionId),
          isNull(authSessions.revokedAt),
        ),
      )
      .returning({ id: authSessions.id });
    await recordAudit(tx, { userId: input.userId, action: "password_changed", meta });
    return { otherSessionsEnded: ended.length };
  });
}
