// Sessions finished for the user, with the save mode they chose in Settings (default
// incremental): a VM left without console input for longer than their idle timeout, and the VMs
// of a user who signed out of their last device. A VM keeps running while any of the user's
// devices is signed in: closing a tab, or signing out of one of two, ends nothing.
import { and, eq, gt, isNotNull, isNull, lt, sql } from "drizzle-orm";
import { db } from "@/db/client";
import { authSessions, sessions, users } from "@/db/schema";
import { finishSession } from "./session-jobs";

async function finishWithDefault(session: { id: string; userId: string; mode: "incremental" | "independent" | "discard" }, why: string, shutdownTimeoutMs: number) {
  try {
    await finishSession({ userId: session.userId, sessionId: session.id, mode: session.mode, shutdownTimeoutMs });
    console.log(`Session ${session.id}: ${why}, finishing (${session.mode})`);
  } catch (error) {
    // Finished meanwhile by the user, another device or reconciliation: nothing to do.
    console.log(`Session ${session.id}: ${why}, but ${error instanceof Error ? error.message : String(error)}`);
  }
}

/** Finishes every running VM idle for longer than its owner's timeout; returns their ids. */
export async function finishIdleSessions(options: { now?: Date; shutdownTimeoutMs: number }): Promise<string[]> {
  const now = options.now ?? new Date();
  const idle = await db()
    .select({ id: sessions.id, userId: sessions.userId, mode: users.defaultFinishMode })
    .from(sessions)
    .innerJoin(users, eq(users.id, sessions.userId))
    .where(
      and(
        eq(sessions.state, "running"),
        isNotNull(users.idleTimeoutMinutes),
        lt(sql`coalesce(${sessions.lastInputAt}, ${sessions.runningAt}, ${sessions.createdAt})`, sql`${now.toISOString()}::timestamptz - make_interval(mins => ${users.idleTimeoutMinutes})`),
      ),
    );
  for (const session of idle) await finishWithDefault(session, "idle for longer than its owner's timeout", options.shutdownTimeoutMs);
  return idle.map((s) => s.id);
}

/**
 * After a sign-out: if none of the user's devices is signed in any more, finishes their running
 * VMs with their default mode; returns their ids.
 */
export async function finishSessionsAfterSignOut(userId: string, options: { shutdownTimeoutMs: number }): Promise<string[]> {
  const [stillSignedIn] = await db()
    .select({ id: authSessions.id })
    .from(authSessions)
    .where(and(eq(authSessions.userId, userId), isNull(authSessions.revokedAt), gt(authSessions.expiresAt, new Date())))
    .limit(1);
  if (stillSignedIn) return [];
  const running = await db()
    .select({ id: sessions.id, userId: sessions.userId, mode: users.defaultFinishMode })
    .from(sessions)
    .innerJoin(users, eq(users.id, sessions.userId))
    .where(and(eq(sessions.userId, userId), eq(sessions.state, "running")));
  for (const session of running) await finishWithDefault(session, "its owner signed out", options.shutdownTimeoutMs);
  return running.map((s) => s.id);
}

const IDLE_SWEEP_MS = 60_000;

/** Looks for idle VMs every minute, for as long as the server runs. */
export function startIdleSweep(shutdownTimeoutMs: number): () => void {
  const timer = setInterval(
    () => void finishIdleSessions({ shutdownTimeoutMs }).catch((error: unknown) => console.error("Finishing idle sessions failed:", error)),
    IDLE_SWEEP_MS,
  );
  timer.unref();
  return () => clearInterval(timer);
}
