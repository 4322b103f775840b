import { and, eq } from "drizzle-orm";
import { describe, expect, it } from "vitest";
import { db } from "@/db/client";
import { auditEvents, users } from "@/db/schema";
import { beginTotpSetup, confirmTotpSetup } from "@/server/account/second-factor-settings";
import { changePassword } from "@/server/account/change-password";
import { env } from "@/server/env";
import { createTestUser } from "@/server/testing/accounts";
import { revokeAllAuthSessions, revokeAuthSession, touchAuthSession } from "./auth-session";
import { signInWithPassword } from "./sign-in";
import { totpCode } from "./totp";

const meta = (ip = "198.51.100.7") => ({ ip, userAgent: "vitest" });
let nextIp = 1;
/** A distinct address per test, so per-address throttling in one test does not leak into another. */
const freshIp = () => `203.0.113.${nextIp++}`;

async function actions(userId: string) {
  const rows = await db().select({ action: auditEvents.action }).from(auditEvents).where(eq(auditEvents.userId, userId));
  return rows.map((r) => r.action);
}

describe("signing in", () => {
  it("signs in with the right password, opens a server-side session and audits it", async () => {
    const user = await createTestUser();
    const result = await signInWithPassword({ email: user.email.toUpperCase(), password: user.password }, meta(freshIp()));
    expect(result.ok).toBe(true);
    if (!result.ok) return;
    expect(await touchAuthSession(result.sessionId)).toMatchObject({ userId: user.id, email: user.email });
    expect(await actions(user.id)).toContain("sign_in");
  });

  it("gives the same generic refusal for a wrong password and an unknown email", async () => {
    const user = await createTestUser();
    const ip = freshIp();
    const wrong = await signInWithPassword({ email: user.email, password: "not the password at all" }, meta(ip));
    const unknown = await signInWithPassword({ email: "nobody@test.twinboot", password: "whatever it is" }, meta(ip));
    expect(wrong).toEqual({ ok: false, failure: { kind: "invalid_credentials" } });
    expect(unknown).toEqual({ ok: false, failure: { kind: "invalid_credentials" } });
    expect(await actions(user.id)).toContain("sign_in_failed");
  });

  it("locks the account after repeated failures, says until when, and refuses even the right password", async () => {
    const user = await createTestUser();
    const ip = freshIp();
    let last;
    for (let i = 0; i < env().LOGIN_MAX_FAILURES; i++) {
      last = await signInWithPassword({ email: user.email, password: `wrong guess ${i}` }, meta(ip));
    }
    expect(last).toMatchObject({ ok: false, failure: { kind: "locked" } });
    const right = await signInWithPassword({ email: user.email, password: user.password }, meta(freshIp()));
    expect(right.ok).toBe(false);
    if (right.ok || right.failure.kind !== "locked") throw new Error("expected a lock");
    const minutes = (right.failure.retryAt.getTime() - Date.now()) / 60_000;
    expect(minutes).toBeGreaterThan(env().LOGIN_LOCKOUT_MINUTES - 1);
    expect(minutes).toBeLessThanOrEqual(env().LOGIN_LOCKOUT_MINUTES);
    expect(await actions(user.id)).toContain("account_locked");
  });

  it("throttles an address after many failures across accounts", async () => {
    const ip = freshIp();
    for (let i = 0; i < env().LOGIN_MAX_FAILURES_PER_IP; i++) {
      await signInWithPassword({ email: `spray-${i}@test.twinboot`, password: "password spraying" }, meta(ip));
    }
    const user = await createTestUser();
    const result = await signInWithPassword({ email: user.email, password: user.password }, meta(ip));
    expect(result).toMatchObject({ ok: false, failure: { kind: "throttled" } });
    expect((await signInWithPassword({ email: user.email, password: user.password }, meta(freshIp()))).ok).toBe(true);
  });

  it("asks for the second factor, accepts a TOTP code once, and a recovery code once", async () => {
    const user = await createTestUser();
    const { secret } = await beginTotpSetup(user, { password: user.password }, meta());
    // Confirm with the previous step's code, so that the current step is still unused.
    const recovery = await confirmTotpSetup(user.id, totpCode(secret, Date.now() - 30_000), meta());
    const [row] = await db().select().from(users).where(eq(users.id, user.id));
    expect(row!.totpSecret).not.toContain(secret); // stored encrypted

    const ip = freshIp();
    const attempt = (secondFactor?: string) =>
      signInWithPassword({ email: user.email, password: user.password, secondFactor }, meta(ip));
    expect(await attempt()).toEqual({ ok: false, failure: { kind: "second_factor_required" } });
    const code = totpCode(secret);
    expect((await attempt(code)).ok).toBe(true);
    expect(await attempt(code)).toEqual({ ok: false, failure: { kind: "second_factor_invalid" } });
    expect((await attempt(recovery[0]!.toUpperCase())).ok).toBe(true);
    expect(await attempt(recovery[0])).toEqual({ ok: false, failure: { kind: "second_factor_invalid" } });
    expect(await actions(user.id)).toContain("recovery_code_used");
  });
});

describe("server-side sessions", () => {
  it("ends a session on sign-out so its cookie no longer works", async () => {
    const user = await createTestUser();
    const result = await signInWithPassword({ email: user.email, password: user.password }, meta(freshIp()));
    if (!result.ok) throw new Error("sign-in failed");
    expect(await revokeAuthSession(user.id, result.sessionId, meta())).toBe(true);
    expect(await touchAuthSession(result.sessionId)).toBeNull();
    expect(await revokeAuthSession(user.id, result.sessionId, meta())).toBe(false);
  });

  it("signs out everywhere", async () => {
    const user = await createTestUser();
    const sessions = [];
    for (let i = 0; i < 3; i++) {
      const r = await signInWithPassword({ email: user.email, password: user.password }, meta(freshIp()));
      if (r.ok) sessions.push(r.sessionId);
    }
    expect(await revokeAllAuthSessions(user.id, meta())).toBe(3);
    for (const id of sessions) expect(await touchAuthSession(id)).toBeNull();
    expect(await actions(user.id)).toContain("sign_out_everywhere");
  });

  it("changing the password ends the user's other sessions but keeps this one", async () => {
    const user = await createTestUser();
    const here = await signInWithPassword({ email: user.email, password: user.password }, meta(freshIp()));
    const there = await signInWithPassword({ email: user.email, password: user.password }, meta(freshIp()));
    if (!here.ok || !there.ok) throw new Error("sign-in failed");
    const result = await changePassword(
      { userId: user.id, email: user.email, currentSessionId: here.sessionId, currentPassword: user.password, newPassword: "saffron kettle midnight" },
      meta(),
    );
    expect(result.otherSessionsEnded).toBe(1);
    expect(await touchAuthSession(here.sessionId)).not.toBeNull();
    expect(await touchAuthSession(there.sessionId)).toBeNull();
    const old = await signInWithPassword({ email: user.email, password: user.password }, meta(freshIp()));
    expect(old.ok).toBe(false);
    const rows = await db()
      .select()
      .from(auditEvents)
      .where(and(eq(auditEvents.userId, user.id), eq(auditEvents.action, "password_changed")));
    expect(rows).toHaveLength(1);
  });

  it("refuses a weak new password with a reason", async () => {
    const user = await createTestUser();
    const here = await signInWithPassword({ email: user.email, password: user.password }, meta(freshIp()));
    if (!here.ok) throw new Error("sign-in failed");
    await expect(
      changePassword(
        { userId: user.id, email: user.email, currentSessionId: here.sessionId, currentPassword: user.password, newPassword: "1q2w3e4r5t6y" },
        meta(),
      ),
    ).rejects.toThrow(/common passwords/);
  });
});
