// Console tickets: what lets a browser open the console of one of its user's sessions. A ticket is
// 256 random bits handed out by tRPC to the signed-in owner of a running session, stored only as
// its SHA-256, valid for 60 s and once. The browser sends it as a WebSocket subprotocol value, so
// it never appears in a URL (history, logs, Referer).
import { createHash, randomBytes } from "node:crypto";
import { and, eq, gt, isNull, lt } from "drizzle-orm";
import { db } from "@/db/client";
import { consoleTickets, sessions } from "@/db/schema";
import { ConflictError, NotFoundError } from "@/server/errors";

export const TICKET_TTL_MS = 60_000;

function hashTicket(ticket: string): string {
  return createHash("sha256").update(ticket).digest("hex");
}

/** A ticket for the user's running session; the session must be the user's and running. */
export async function issueConsoleTicket(userId: string, sessionId: string, now = new Date()): Promise<{ ticket: string; expiresAt: Date }> {
  const [session] = await db()
    .select({ state: sessions.state })
    .from(sessions)
    .where(and(eq(sessions.id, sessionId), eq(sessions.userId, userId)));
  if (!session) throw new NotFoundError("No such session.");
  if (session.state !== "running") throw new ConflictError("The VM is not running, so there is no screen to show.");
  const ticket = randomBytes(32).toString("base64url");
  const expiresAt = new Date(now.getTime() + TICKET_TTL_MS);
  await db().insert(consoleTickets).values({ tokenHash: hashTicket(ticket), userId, sessionId, expiresAt });
  // Spent and expired tickets are of no use to anyone: keep the table small.
  await db().delete(consoleTickets).where(lt(consoleTickets.expiresAt, new Date(now.getTime() - TICKET_TTL_MS)));
  return { ticket, expiresAt };
}

/**
 * Spends a ticket: the session it opens, if the ticket is unused, unexpired and the user's own;
 * null otherwise. One conditional update, so two racing uses cannot both succeed.
 */
export async function redeemConsoleTicket(ticket: string, userId: string, now = new Date()): Promise<string | null> {
  const [spent] = await db()
    .update(consoleTickets)
    .set({ usedAt: now })
    .where(
      and(
        eq(consoleTickets.tokenHash, hashTicket(ticket)),
        eq(consoleTickets.userId, userId),
        isNull(consoleTickets.usedAt),
        gt(consoleTickets.expiresAt, now),
      ),
    )
    .returning({ sessionId: consoleTickets.sessionId });
  return spent?.sessionId ?? null;
}
