// What the settings page shows about the signed-in user: second factor, sessions, recent activity.
import { and, count, desc, eq, isNull } from "drizzle-orm";
import { db } from "@/db/client";
import { auditEvents, recoveryCodes, users } from "@/db/schema";
import { listActiveAuthSessions } from "@/server/auth/auth-session";
import { NotFoundError } from "@/server/errors";

export async function getAccountOrThrow(userId: string) {
  const [row] = await db()
    .select({ id: users.id, email: users.email, role: users.role, totpSecret: users.totpSecret, createdAt: users.createdAt })
    .from(users)
    .where(eq(users.id, userId));
  if (!row) throw new NotFoundError("Your account no longer exists.");
  const [codes] = await db()
    .select({ left: count() })
    .from(recoveryCodes)
    .where(and(eq(recoveryCodes.userId, userId), isNull(recoveryCodes.usedAt)));
  return {
    id: row.id,
    email: row.email,
    role: row.role,
    createdAt: row.createdAt,
    totpEnabled: row.totpSecret !== null,
    recoveryCodesLeft: codes?.left ?? 0,
  };
}

export async function listAccountSessions(userId: string, currentSessionId: string) {
  const sessions = await listActiveAuthSessions(userId);
  return sessions.map((s) => ({
    id: s.id,
    ip: s.ip,
    userAgent: s.userAgent,
    createdAt: s.createdAt,
    lastSeenAt: s.lastSeenAt,
    current: s.id === currentSessionId,
  }));
}

export async function listSecurityActivity(userId: string, limit = 20) {
  return db()
    .select({ id: auditEvents.id, at: auditEvents.at, action: auditEvents.action, ip: auditEvents.ip, userAgent: auditEvents.userAgent })
    .from(auditEvents)
    .where(eq(auditEvents.userId, userId))
    .orderBy(desc(auditEvents.at))
    .limit(limit);
}
