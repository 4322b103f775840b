// The states a session moves through, and the one way it moves: a conditional update that names
// the states it may come from, so that two requests racing (a user's Finish and the idle timeout,
// or two servers reconciling) cannot both act; the loser gets a ConflictError saying where the
// session is now.
import { and, eq, inArray, sql } from "drizzle-orm";
import { db, type Transaction } from "@/db/client";
import { sessions, type Session } from "@/db/schema";
import type { SessionState } from "@/wire/enums";
import { ConflictError, NotFoundError } from "@/server/errors";

/** Where each state may go next. saved and discarded are final; failed and host_lost keep their overlay until the user decides. */
export const NEXT_STATES: Record<SessionState, readonly SessionState[]> = {
  requested: ["provisioning", "failed"],
  provisioning: ["provisioning", "running", "failed"], // again: an attempt that stopped mid-way is carried on
  running: ["stopping", "host_lost", "failed"],
  stopping: ["saving", "discarded", "host_lost", "failed"],
  saving: ["saved", "failed"],
  saved: [],
  discarded: [],
  failed: ["saving", "discarded"],
  host_lost: ["saving", "discarded", "running"],
};


export function canMove(from: SessionState, to: SessionState): boolean {
  return NEXT_STATES[from].includes(to);
}

const DESCRIPTIONS: Record<SessionState, string> = {
  requested: "is being requested",
  provisioning: "is starting",
  running: "is running",
  stopping: "is shutting down",
  saving: "is being saved",
  saved: "was saved",
  discarded: "was discarded",
  failed: "failed",
  host_lost: "lost its host",
};

export function describeState(state: SessionState): string {
  return DESCRIPTIONS[state];
}

/**
 * Moves the session to `to` if it is in one of the states that may go there, applying `changes`
 * in the same update; returns the updated session. `ownerId` scopes it to a user when a user acts.
 */
export async function moveSession(
  sessionId: string,
  to: SessionState,
  changes: Partial<Omit<Session, "id" | "state">> = {},
  { ownerId, executor = db() }: { ownerId?: string; executor?: Transaction | ReturnType<typeof db> } = {},
): Promise<Session> {
  const from = (Object.keys(NEXT_STATES) as SessionState[]).filter((state) => canMove(state, to));
  const owned = ownerId ? eq(sessions.userId, ownerId) : undefined;
  const [moved] = await executor
    .update(sessions)
    .set({ ...changes, state: to, updatedAt: sql`now()` })
    .where(and(eq(sessions.id, sessionId), inArray(sessions.state, from), owned))
    .returning();
  if (moved) return moved;
  const [current] = await executor
    .select({ state: sessions.state })
    .from(sessions)
    .where(and(eq(sessions.id, sessionId), owned));
  if (!current) throw new NotFoundError("No such session.");
  throw new ConflictError(`This session ${describeState(current.state)}, so it cannot ${to === "stopping" ? "be finished" : `become ${to.replace("_", " ")}`} now.`);
}
