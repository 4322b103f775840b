// Checking a TOTP or recovery code against a user, consuming it so that it works once.
import { and, eq, isNull } from "drizzle-orm";
import type { Transaction } from "@/db/client";
import { recoveryCodes, users, type User } from "@/db/schema";
import { recordAudit } from "@/server/audit/record-audit";
import type { RequestMeta } from "@/server/request-meta";
import { openSecret } from "./secret-box";
import { hashRecoveryCode, looksLikeRecoveryCode, verifyTotp } from "./totp";

export const TOTP_SECRET_PURPOSE = "totp";


/**
 * Consumes `code` (a TOTP code or a recovery code) for `user`; true if it was valid and unused.
 * Runs inside the caller's transaction, which must hold the user row FOR UPDATE.
 */
export async function consumeSecondFactor(tx: Transaction, user: User, code: string, meta: RequestMeta): Promise<boolean> {
  if (!user.totpSecret) return false;
  if (looksLikeRecoveryCode(code)) {
    const used = await tx
      .update(recoveryCodes)
      .set({ usedAt: new Date() })
      .where(
        and(
          eq(recoveryCodes.userId, user.id),
          eq(recoveryCodes.codeHash, hashRecoveryCode(code)),
          isNull(recoveryCodes.usedAt),
        ),
      )
      .returning({ id: recoveryCodes.id });
    if (used.length === 0) return false;
    await recordAudit(tx, { userId: user.id, action: "recovery_code_used", meta });
    return true;
  }
  const step = verifyTotp(openSecret(user.totpSecret, TOTP_SECRET_PURPOSE), code, user.totpLastStep);
  if (step === null) return false;
  await tx.update(users).set({ totpLastStep: step }).where(eq(users.id, user.id));
  return true;
}
