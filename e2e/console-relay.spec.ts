// The console relay against the running server and a VM on the test pool, as a WebSocket client
// sees it: only a fresh ticket of the signed-in user, from our own Origin, opens the VM's screen;
// every other attempt is refused before any byte of the VM flows. 100 connect/disconnect cycles
// leave no SSH channel, socket or connection behind (counted on the server, the host's sshd and
// QEMU).
import { execFileSync } from "node:child_process";
import { readdirSync, readlinkSync } from "node:fs";
import { eq } from "drizzle-orm";
import WebSocket from "ws";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { db } from "@/db/client";
import { consoleTickets, type Session } from "@/db/schema";
import { CONSOLE_PATH, CONSOLE_SUBPROTOCOL, MAX_CONSOLES_PER_USER, TICKET_SUBPROTOCOL_PREFIX } from "@/server/console/relay";
import { issueConsoleTicket } from "@/server/console/tickets";
import { createMachine } from "@/server/machines/machines";
import { finishSession, startSession } from "@/server/sessions/session-jobs";
import { createTestUser, signedInCookie } from "@/server/testing/accounts";
import { addFixtureImage } from "@/server/testing/fixture-image";
import { RfbProbe } from "@/server/testing/rfb-probe";
import { poolHosts, usePoolHost } from "./pool-host";
import { APP_URL } from "./support";

usePoolHost("e2e-relay");
const relayUrl = new URL(CONSOLE_PATH, APP_URL.replace(/^http/, "ws")).toString();
const ourOrigin = new URL(APP_URL).origin;

interface Attempt {
  cookie?: string;
  ticket?: string;
  origin?: string;
}

/** Opens the relay; resolves with the VM's RFB greeting, or the HTTP status of the refusal. */
function attempt({ cookie, ticket, origin = ourOrigin }: Attempt): Promise<string | number> {
  const protocols = [CONSOLE_SUBPROTOCOL, ...(ticket ? [`${TICKET_SUBPROTOCOL_PREFIX}${ticket}`] : [])];
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(relayUrl, protocols, { headers: { Origin: origin, ...(cookie ? { Cookie: cookie } : {}) } });
    ws.once("unexpected-response", (_req, res) => {
      resolve(res.statusCode ?? 0);
      ws.terminate();
    });
    ws.once("open", () => {
      expect(ws.protocol).toBe(CONSOLE_SUBPROTOCOL);
      RfbProbe.overWebSocket(ws)
        .greeting()
        .then((greeting) => {
          ws.close();
          resolve(greeting);
        }, reject);
    });
    ws.once("error", reject);
  });
}

function socketCount(pid: number): number {
  return readdirSync(`/proc/${pid}/fd`).filter((fd) => {
    try {
      return readlinkSync(`/proc/${pid}/fd/${fd}`).startsWith("socket:");
    } catch {
      return false;
    }
  }).length;
}

function pids(args: string[]): number[] {
  try {
    return execFileSync("pgrep", args, { encoding: "utf8" }).trim().split("\n").map(Number);
  } catch {
    return [];
  }
}

/** Sockets held by the VM's QEMU and the host user's sshd processes, and connections to the app's port. */
function openThings(sessionId: string) {
  const hostUser = poolHosts()[0]!.ssh.split("@")[0]!;
  const port = new URL(APP_URL).port;
  return {
    qemuSockets: pids(["-f", `guest=twinboot-${sessionId}`]).reduce((n, pid) => n + socketCount(pid), 0),
    sshdSockets: pids(["-u", hostUser, "sshd"]).reduce((n, pid) => n + socketCount(pid), 0),
    appConnections: execFileSync("ss", ["-Htn", "state", "established", `( sport = :${port} )`], { encoding: "utf8" }).split("\n").filter(Boolean).length,
  };
}

let owner: Awaited<ReturnType<typeof createTestUser>>;
let ownerCookie: string;
let session: Session;

beforeAll(async () => {
  owner = await createTestUser();
  ownerCookie = (await signedInCookie(owner)).cookie;
  const { machine } = await createMachine({ ownerId: owner.id, name: "Office PC" }, undefined, false);
  session = await (await startSession({ userId: owner.id, imageId: await addFixtureImage(machine.id), vmType: "compatible" })).done();
  expect(session.state).toBe("running");
}, 120_000);

afterAll(async () => {
  await (await finishSession({ userId: owner.id, sessionId: session.id, mode: "discard", shutdownTimeoutMs: 0 })).done();
});

describe("the console relay", () => {
  it("opens the VM's screen with a fresh ticket, the user's cookie and our Origin", async () => {
    const { ticket } = await issueConsoleTicket(owner.id, session.id);
    expect(await attempt({ cookie: ownerCookie, ticket })).toBe("RFB 003.008\n");
  });

  it("refuses a reused ticket, an expired one, and another user's", async () => {
    const { ticket } = await issueConsoleTicket(owner.id, session.id);
    expect(await attempt({ cookie: ownerCookie, ticket })).toBe("RFB 003.008\n");
    expect(await attempt({ cookie: ownerCookie, ticket })).toBe(403);

    const expired = await issueConsoleTicket(owner.id, session.id, new Date(Date.now() - 61_000));
    expect(await attempt({ cookie: ownerCookie, ticket: expired.ticket })).toBe(403);

    // The stranger's own ticket does not open the owner's VM, nor the owner's ticket theirs.
    const stranger = await createTestUser();
    const strangerCookie = (await signedInCookie(stranger)).cookie;
    const owners = await issueConsoleTicket(owner.id, session.id);
    expect(await attempt({ cookie: strangerCookie, ticket: owners.ticket })).toBe(403);
    await expect(issueConsoleTicket(stranger.id, session.id)).rejects.toThrow("No such session.");
    // A refused attempt spends nothing: the owner can still use that ticket.
    expect(await attempt({ cookie: ownerCookie, ticket: owners.ticket })).toBe("RFB 003.008\n");
  });

  it("refuses without a signed-in session, from another Origin, and without a ticket", async () => {
    const fresh = async () => (await issueConsoleTicket(owner.id, session.id)).ticket;
    expect(await attempt({ ticket: await fresh() })).toBe(401);
    expect(await attempt({ cookie: `${ownerCookie.split("=")[0]}=not-a-token`, ticket: await fresh() })).toBe(401);
    expect(await attempt({ cookie: `${ownerCookie.split("=")[0]}=%E0%A4%A`, ticket: await fresh() })).toBe(401);
    expect(await attempt({ cookie: ownerCookie, ticket: await fresh(), origin: "https://evil.example" })).toBe(403);
    expect(await attempt({ cookie: ownerCookie })).toBe(400);
    // Tickets are only ever stored hashed.
    const { ticket } = await issueConsoleTicket(owner.id, session.id);
    expect(await db().select().from(consoleTickets).where(eq(consoleTickets.tokenHash, ticket))).toEqual([]);
  });

  it(`lets a user have ${MAX_CONSOLES_PER_USER} consoles open at once, not more`, async () => {
    const open: WebSocket[] = [];
    try {
      for (let i = 0; i < MAX_CONSOLES_PER_USER; i++) {
        const { ticket } = await issueConsoleTicket(owner.id, session.id);
        const ws = new WebSocket(relayUrl, [CONSOLE_SUBPROTOCOL, `${TICKET_SUBPROTOCOL_PREFIX}${ticket}`], { headers: { Origin: ourOrigin, Cookie: ownerCookie } });
        await new Promise((resolve, reject) => ws.once("open", resolve).once("unexpected-response", (_q, res) => reject(new Error(`HTTP ${res.statusCode}`))));
        open.push(ws);
      }
      const { ticket } = await issueConsoleTicket(owner.id, session.id);
      expect(await attempt({ cookie: ownerCookie, ticket })).toBe(429);
      // The refusal spent nothing: once one console closes, the same ticket opens the screen.
      // (Until the relay has seen the close, the attempt is refused again, and still spends nothing.)
      open.pop()!.close();
      await expect.poll(() => attempt({ cookie: ownerCookie, ticket }), { timeout: 10_000, interval: 200 }).toBe("RFB 003.008\n");
    } finally {
      for (const ws of open) ws.close();
    }
  });

  it("leaves no SSH channel, socket or connection open after 100 connect/disconnect cycles", async () => {
    await new Promise((resolve) => setTimeout(resolve, 1000)); // earlier tests' consoles close
    const before = openThings(session.id);
    expect(before.qemuSockets).toBeGreaterThan(0);
    for (let i = 0; i < 100; i++) {
      const { ticket } = await issueConsoleTicket(owner.id, session.id);
      expect(await attempt({ cookie: ownerCookie, ticket })).toBe("RFB 003.008\n");
    }
    await expect.poll(() => openThings(session.id), { timeout: 10_000, interval: 250 }).toEqual(before);
  }, 120_000);
});
