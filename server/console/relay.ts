// The console relay: a WebSocket on the app's own port (/api/console) piped to the VM's VNC
// server, which listens on a UNIX socket on its hypervisor host and is reached through an SSH
// streamlocal channel on the host's pooled connection — no TCP port on the host at all.
//
// The upgrade is accepted only with the right Origin, a signed-in session cookie, and a console
// ticket (server/console/tickets.ts) of that user, offered as a WebSocket subprotocol value
// `twinboot.ticket.<ticket>` beside `twinboot.console` (the one the server answers with). A user
// has at most MAX_CONSOLES_PER_USER consoles open: several viewers (phone and laptop) are fine.
//
// Bytes are piped both ways as binary frames with backpressure (the faster side is paused),
// pings find dead peers, and either side closing closes the other. What the browser sends is read
// by RfbInputDetector: key, pointer and clipboard messages move the session's last-input time,
// which the idle timeout uses. Closing a console never ends the session.
import type { IncomingMessage } from "node:http";
import type { Duplex } from "node:stream";
import { and, eq } from "drizzle-orm";
import type { ClientChannel } from "ssh2";
import { WebSocketServer, type WebSocket } from "ws";
import { db } from "@/db/client";
import { hypervisorHosts, sessions } from "@/db/schema";
import { sessionUserFromCookieHeader } from "@/server/auth/cookie-session";
import { env } from "@/server/env";
import { ConflictError, ForbiddenError, HostUnreachableError, InvalidInputError, NotAuthenticatedError, RateLimitedError } from "@/server/errors";
import { refuseUpgradeWith } from "@/server/http/upgrade-routes";
import { connectionTo } from "@/server/pool/host-connections";
import { CONSOLE_CLOSE_CODES, CONSOLE_SUBPROTOCOL, TICKET_SUBPROTOCOL_PREFIX, type ConsoleCloseCode } from "@/wire/console";
import { RfbInputDetector } from "./rfb-input";
import { redeemConsoleTicket } from "./tickets";

export { CONSOLE_PATH, CONSOLE_SUBPROTOCOL, TICKET_SUBPROTOCOL_PREFIX } from "@/wire/console";
export const MAX_CONSOLES_PER_USER = 6;
const PING_INTERVAL_MS = 20_000;
/** Screen data queued for the browser beyond this pauses the VNC side until it drains below LOW. */
const HIGH_WATER_BYTES = 4 * 1024 * 1024;
const LOW_WATER_BYTES = 1024 * 1024;
/** The last-input time is written at most this often per console. */
const INPUT_RECORD_INTERVAL_MS = 30_000;

const wss = new WebSocketServer({
  noServer: true,
  perMessageDeflate: false, // VNC data is compressed by its own encodings already
  maxPayload: 1024 * 1024,
  handleProtocols: (offered) => (offered.has(CONSOLE_SUBPROTOCOL) ? CONSOLE_SUBPROTOCOL : false),
});

const openByUser = new Map<string, number>();

/** Consoles open now, for tests and the log. */
export function openConsoleCount(): number {
  let total = 0;
  for (const n of openByUser.values()) total += n;
  return total;
}

function offeredTicket(req: IncomingMessage): string | null {
  const offered = (req.headers["sec-websocket-protocol"] ?? "").split(",").map((p) => p.trim());
  if (!offered.includes(CONSOLE_SUBPROTOCOL)) return null;
  const ticket = offered.find((p) => p.startsWith(TICKET_SUBPROTOCOL_PREFIX))?.slice(TICKET_SUBPROTOCOL_PREFIX.length);
  return ticket && /^[A-Za-z0-9_-]{43}$/.test(ticket) ? ticket : null;
}

async function recordInput(sessionId: string) {
  await db()
    .update(sessions)
    .set({ lastInputAt: new Date() })
    .where(and(eq(sessions.id, sessionId), eq(sessions.state, "running")));
}

/** Takes one of the user's console places, or says there is none left. */
function reserveConsole(userId: string): boolean {
  const open = openByUser.get(userId) ?? 0;
  if (open >= MAX_CONSOLES_PER_USER) return false;
  openByUser.set(userId, open + 1);
  return true;
}

function releaseConsole(userId: string): void {
  const left = (openByUser.get(userId) ?? 1) - 1;
  if (left > 0) openByUser.set(userId, left);
  else openByUser.delete(userId);
}

/** Pipes an accepted console; its place (reserveConsole) is released when either side closes. */
function pipe(ws: WebSocket, channel: ClientChannel, userId: string, sessionId: string) {
  const detector = new RfbInputDetector();
  let lastRecorded = 0;
  let closed = false;
  let alive = true;
  let queued = 0;
  let vncPaused = false;

  const close = (code: ConsoleCloseCode, reason: string) => {
    if (closed) return;
    closed = true;
    clearInterval(pinger);
    releaseConsole(userId);
    channel.close();
    // A paused socket would never read the browser's answer to the close.
    ws.resume();
    if (ws.readyState === ws.OPEN) ws.close(code, reason);
    else ws.terminate();
  };

  // Browser → VM: pause reading the browser while the channel's window is full. Text frames
  // are the viewer's own round-trip probes ("ping <t>"), answered here, never sent to the VM.
  ws.on("message", (data: Buffer, isBinary: boolean) => {
    if (!isBinary) {
      const probe = data.toString("utf8");
      if (/^ping [\d.]{1,32}$/.test(probe)) ws.send(`pong ${probe.slice(5)}`);
      return;
    }
    if (!channel.write(data) && !ws.isPaused) {
      ws.pause();
      channel.once("drain", () => ws.resume());
    }
    if (detector.feed(data) && Date.now() - lastRecorded > INPUT_RECORD_INTERVAL_MS) {
      lastRecorded = Date.now();
      recordInput(sessionId).catch((error: unknown) => console.error(`Recording input of session ${sessionId} failed:`, error));
    }
  });
  // VM → browser: pause the channel while the browser is behind.
  channel.on("data", (chunk: Buffer) => {
    queued += chunk.length;
    ws.send(chunk, { binary: true }, () => {
      queued -= chunk.length;
      if (vncPaused && queued < LOW_WATER_BYTES) {
        vncPaused = false;
        channel.resume();
      }
    });
    if (!vncPaused && queued > HIGH_WATER_BYTES) {
      vncPaused = true;
      channel.pause();
    }
  });

  const pinger = setInterval(() => {
    if (!alive) return close(CONSOLE_CLOSE_CODES.browserSilent, "The browser stopped answering.");
    alive = false;
    ws.ping();
  }, PING_INTERVAL_MS);
  ws.on("pong", () => (alive = true));

  ws.on("close", () => close(CONSOLE_CLOSE_CODES.closed, "closed"));
  ws.on("error", () => close(CONSOLE_CLOSE_CODES.connectionFailed, "connection error"));
  channel.on("close", () => close(CONSOLE_CLOSE_CODES.closed, "The VM's screen closed (the VM stopped)."));
  channel.on("error", () => close(CONSOLE_CLOSE_CODES.connectionFailed, "The connection to the VM's host failed."));
}

/** The upgrade handler for CONSOLE_PATH (registered in server.ts). */
export function handleConsoleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
  // Refusals are domain errors, answered with their status through the one error map.
  const refuse = (error: unknown) => {
    if (!socket.destroyed) refuseUpgradeWith(socket, error, "Console upgrade failed");
  };
  void (async () => {
    if (req.headers.origin !== new URL(env().APP_URL).origin) return refuse(new ForbiddenError("this page may not open consoles"));
    const user = await sessionUserFromCookieHeader(req.headers.cookie);
    if (!user) return refuse(new NotAuthenticatedError("sign in again"));
    const ticket = offeredTicket(req);
    if (!ticket) return refuse(new InvalidInputError("no console ticket"));
    // The place is taken before the ticket is spent: a refusal for too many consoles spends nothing.
    if (!reserveConsole(user.userId)) {
      return refuse(new RateLimitedError(`at most ${MAX_CONSOLES_PER_USER} consoles at once; close one`, new Date()));
    }
    let piped = false;
    try {
      const sessionId = await redeemConsoleTicket(ticket, user.userId);
      if (!sessionId) return refuse(new ForbiddenError("the console ticket is not valid, was used, or expired"));
      const [target] = await db()
        .select({ vncSocketPath: sessions.vncSocketPath, host: hypervisorHosts })
        .from(sessions)
        .innerJoin(hypervisorHosts, eq(hypervisorHosts.id, sessions.hostId))
        .where(and(eq(sessions.id, sessionId), eq(sessions.userId, user.userId), eq(sessions.state, "running")));
      if (!target?.vncSocketPath) return refuse(new ConflictError("the VM is not running"));
      let channel: ClientChannel;
      try {
        channel = await (await connectionTo(target.host)).openUnixSocket(target.vncSocketPath);
      } catch (error) {
        console.error(`Console of session ${sessionId}:`, error instanceof Error ? error.message : error);
        return refuse(new HostUnreachableError("the VM's host did not open its screen"));
      }
      // ws completes the upgrade synchronously, or drops a socket the browser already closed.
      wss.handleUpgrade(req, socket, head, (ws) => {
        piped = true;
        pipe(ws, channel, user.userId, sessionId);
      });
      if (!piped) channel.close();
    } finally {
      if (!piped) releaseConsole(user.userId);
    }
  })().catch((error: unknown) => refuse(error));
}
