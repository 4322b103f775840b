// Signing in with email, password and (when turned on) a second factor, with per-account
// lockout and per-address throttling. Returns a new server-side session on success.
import { and, count, eq, gt, min, sql } from "drizzle-orm";
import { db } from "@/db/client";
import { auditEvents, users, type UserRole } from "@/db/schema";
import { recordAudit } from "@/server/audit/record-audit";
import { env } from "@/server/env";
import type { RequestMeta } from "@/server/request-meta";
import { createAuthSession } from "./auth-session";
import { afterFailure, afterSuccess, isLocked, type LockoutPolicy } from "./lockout";
import { verifyAgainstNothing, verifyPassword } from "./password";
import { consumeSecondFactor } from "./second-factor";

export interface SignInAttempt {
  email: string;
  password: string;
  /** A TOTP code or a recovery code; asked for only when the account has TOTP on. */
  secondFactor?: string;
}

export type SignInFailure =
  | { kind: "invalid_credentials" }
  | { kind: "second_factor_required" }
  | { kind: "second_factor_invalid" }
  | { kind: "locked"; retryAt: Date }
  | { kind: "throttled"; retryAt: Date };

export type SignInResult =
  | { ok: true; user: { id: string; email: string; role: UserRole }; sessionId: string }
  | { ok: false; failure: SignInFailure };

const THROTTLE_WINDOW_MINUTES = 15;

export function lockoutPolicy(): LockoutPolicy {
  return { maxFailures: env().LOGIN_MAX_FAILURES, lockoutMinutes: env().LOGIN_LOCKOUT_MINUTES };
}

export async function signInWithPassword(attempt: SignInAttempt, meta: RequestMeta): Promise<SignInResult> {
  const now = new Date();
  const throttledUntil = await addressThrottledUntil(meta.ip, now);
  if (throttledUntil) return { ok: false, failure: { kind: "throttled", retryAt: throttledUntil } };

  const [user] = await db()
    .select()
    .from(users)
    .where(sql`lower(${users.email}) = ${attempt.email.toLowerCase()}`);
  if (!user) {
    await verifyAgainstNothing(attempt.password);
    await recordAudit(db(), {
      userId: null,
      action: "sign_in_failed",
      meta,
      detail: { reason: "unknown_email", email: attempt.email.slice(0, 320) },
    });
    return { ok: false, failure: { kind: "invalid_credentials" } };
  }
  if (isLocked(user, now)) return { ok: false, failure: { kind: "locked", retryAt: user.lockedUntil! } };

  if (!(await verifyPassword(user.passwordHash, attempt.password))) {
    return recordFailedSignIn(user.id, "wrong_password", meta, { kind: "invalid_credentials" });
  }
  if (user.totpSecret) {
    if (!attempt.secondFactor) return { ok: false, failure: { kind: "second_factor_required" } };
    const accepted = await db().transaction(async (tx) => {
      const [locked] = await tx.select().from(users).where(eq(users.id, user.id)).for("update");
      return consumeSecondFactor(tx, locked!, attempt.secondFactor!, meta);
    });
    if (!accepted) {
      return recordFailedSignIn(user.id, "wrong_second_factor", meta, { kind: "second_factor_invalid" });
    }
  }

  await db().update(users).set(afterSuccess()).where(eq(users.id, user.id));
  const session = await createAuthSession(user.id, meta, now);
  await recordAudit(db(), { userId: user.id, action: "sign_in", meta, detail: { sessionId: session.id } });
  return { ok: true, user: { id: user.id, email: user.email, role: user.role }, sessionId: session.id };
}

/**
 * Counts a failed password or code against the account, locking it when the policy says so.
 * Used by sign-in and by identity confirmation for sensitive actions.
 */
export async function recordFailedSignIn(
  userId: string,
  reason: string,
  meta: RequestMeta,
  failure: SignInFailure,
): Promise<{ ok: false; failure: SignInFailure }> {
  return db().transaction(async (tx) => {
    const [user] = await tx.select().from(users).where(eq(users.id, userId)).for("update");
    const now = new Date();
    const next = afterFailure(user!, now, lockoutPolicy());
    await tx.update(users).set(next).where(eq(users.id, userId));
    await recordAudit(tx, { userId, action: "sign_in_failed", meta, detail: { reason } });
    if (isLocked(next, now) && !isLocked(user!, now)) {
      await recordAudit(tx, { userId, action: "account_locked", meta, detail: { until: next.lockedUntil } });
      return { ok: false, failure: { kind: "locked", retryAt: next.lockedUntil! } };
    }
    return { ok: false, failure };
  });
}

/** When too many sign-ins failed from this address lately: the time it may try again. */
async function addressThrottledUntil(ip: string | null, now: Date): Promise<Date | null> {
  if (!ip) return null;
  const since = new Date(now.getTime() - THROTTLE_WINDOW_MINUTES * 60_000);
  const [row] = await db()
    .select({ failures: count(), oldest: min(auditEvents.at) })
    .from(auditEvents)
    .where(and(eq(auditEvents.ip, ip), eq(auditEvents.action, "sign_in_failed"), gt(auditEvents.at, since)));
  if (!row || row.failures < env().LOGIN_MAX_FAILURES_PER_IP || !row.oldest) return null;
  return new Date(new Date(row.oldest).getTime() + THROTTLE_WINDOW_MINUTES * 60_000);
}

