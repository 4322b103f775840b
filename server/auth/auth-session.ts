// Signed-in browser sessions, kept in Postgres so the server can end them: sign-out, revoke,
// "sign out everywhere", an idle timeout and an absolute lifetime.
import { and, desc, eq, gt, isNull } from "drizzle-orm";
import { db } from "@/db/client";
import { authSessions, users, type AuthSession, type UserRole } from "@/db/schema";
import { recordAudit } from "@/server/audit/record-audit";
import { env } from "@/server/env";
import type { RequestMeta } from "@/server/request-meta";

export interface SessionPolicy {
  idleMinutes: number;
  maxHours: number;
}

export type AuthSessionState = "active" | "idle" | "expired" | "revoked";

/** last_seen_at is written at most this often, so a page load is not always a write. */
const TOUCH_EVERY_MS = 60_000;

export function sessionPolicy(): SessionPolicy {
  return { idleMinutes: env().SESSION_IDLE_MINUTES, maxHours: env().SESSION_MAX_HOURS };
}

export function authSessionState(
  session: Pick<AuthSession, "lastSeenAt" | "expiresAt" | "revokedAt">,
  now: Date,
  policy: SessionPolicy,
): AuthSessionState {
  if (session.revokedAt) return "revoked";
  if (session.expiresAt <= now) return "expired";
  if (now.getTime() - session.lastSeenAt.getTime() > policy.idleMinutes * 60_000) return "idle";
  return "active";
}

export async function createAuthSession(userId: string, meta: RequestMeta, now = new Date()): Promise<AuthSession> {
  const [row] = await db()
    .insert(authSessions)
    .values({
      userId,
      ip: meta.ip,
      userAgent: meta.userAgent,
      createdAt: now,
      lastSeenAt: now,
      expiresAt: new Date(now.getTime() + sessionPolicy().maxHours * 3_600_000),
    })
    .returning();
  return row!;
}

export interface ActiveSessionUser {
  sessionId: string;
  userId: string;
  email: string;
  role: UserRole;
}

/**
 * The user behind a session id if the session is still active, marking it seen; null otherwise.
 * Called on every authenticated request (from the Auth.js jwt callback).
 */
export async function touchAuthSession(sessionId: string, now = new Date()): Promise<ActiveSessionUser | null> {
  const [row] = await db()
    .select({ session: authSessions, email: users.email, role: users.role })
    .from(authSessions)
    .innerJoin(users, eq(users.id, authSessions.userId))
    .where(eq(authSessions.id, sessionId));
  if (!row || authSessionState(row.session, now, sessionPolicy()) !== "active") return null;
  if (now.getTime() - row.session.lastSeenAt.getTime() > TOUCH_EVERY_MS) {
    await db().update(authSessions).set({ lastSeenAt: now }).where(eq(authSessions.id, sessionId));
  }
  return { sessionId, userId: row.session.userId, email: row.email, role: row.role };
}

/** The user's sessions that are still active, newest activity first. */
export async function listActiveAuthSessions(userId: string, now = new Date()) {
  const rows = await db()
    .select()
    .from(authSessions)
    .where(and(eq(authSessions.userId, userId), isNull(authSessions.revokedAt), gt(authSessions.expiresAt, now)))
    .orderBy(desc(authSessions.lastSeenAt));
  return rows.filter((s) => authSessionState(s, now, sessionPolicy()) === "active");
}

/**
 * Ends one of the user's sessions (signing out, or revoking it from the sessions list);
 * false if there is no such active session of theirs.
 */
export async function revokeAuthSession(
  userId: string,
  sessionId: string,
  meta?: RequestMeta,
  action: "sign_out" | "session_revoked" = "sign_out",
): Promise<boolean> {
  return db().transaction(async (tx) => {
    const ended = await tx
      .update(authSessions)
      .set({ revokedAt: new Date() })
      .where(and(eq(authSessions.id, sessionId), eq(authSessions.userId, userId), isNull(authSessions.revokedAt)))
      .returning({ id: authSessions.id });
    if (ended.length === 0) return false;
    await recordAudit(tx, { userId, action, meta, detail: { sessionId } });
    return true;
  });
}

/** Ends every session of the user ("sign out everywhere"); returns how many were ended. */
export async function revokeAllAuthSessions(userId: string, meta: RequestMeta): Promise<number> {
  return db().transaction(async (tx) => {
    const ended = await tx
      .update(authSessions)
      .set({ revokedAt: new Date() })
      .where(and(eq(authSessions.userId, userId), isNull(authSessions.revokedAt)))
      .returning({ id: authSessions.id });
    await recordAudit(tx, { userId, action: "sign_out_everywhere", meta, detail: { ended: ended.length } });
    return ended.length;
  });
}
