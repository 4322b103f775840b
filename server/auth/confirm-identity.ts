// Sensitive actions (turning the second factor off, deleting a machine, later apply-back and
// deleting images) ask again for the password or a code. A wrong answer counts toward lockout.
import { eq } from "drizzle-orm";
import { db } from "@/db/client";
import { users } from "@/db/schema";
import { IdentityNotConfirmedError, RateLimitedError } from "@/server/errors";
import type { RequestMeta } from "@/server/request-meta";
import type { TIdentityProof } from "@/wire/account";
import { isLocked } from "./lockout";
import { verifyPassword } from "./password";
import { consumeSecondFactor } from "./second-factor";
import { recordFailedSignIn } from "./sign-in";

export async function confirmIdentity(userId: string, proof: TIdentityProof, meta: RequestMeta): Promise<void> {
  const [user] = await db().select().from(users).where(eq(users.id, userId));
  if (!user) throw new IdentityNotConfirmedError("Your account no longer exists.");
  if (isLocked(user, new Date())) throw lockedError(user.lockedUntil!);

  let confirmed = false;
  if (proof.password) {
    confirmed = await verifyPassword(user.passwordHash, proof.password);
  } else if (proof.code && user.totpSecret) {
    confirmed = await db().transaction(async (tx) => {
      const [locked] = await tx.select().from(users).where(eq(users.id, userId)).for("update");
      return consumeSecondFactor(tx, locked!, proof.code!, meta);
    });
  }
  if (confirmed) return;

  const result = await recordFailedSignIn(userId, "identity_confirm_failed", meta, { kind: "invalid_credentials" });
  if (result.failure.kind === "locked") throw lockedError(result.failure.retryAt);
  throw new IdentityNotConfirmedError(
    proof.password
      ? "That password is not right. Enter your current password to confirm."
      : "That code is not right. Enter the current code from your authenticator app, or your password.",
  );
}

function lockedError(until: Date): RateLimitedError {
  return new RateLimitedError(
    `Too many wrong attempts: your account is locked until ${until.toISOString()}. Try again after that.`,
    until,
  );
}
