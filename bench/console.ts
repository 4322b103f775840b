// Benchmark: the console relay vs websockify (Debian's package), side by side in one run, both in
// front of the same QEMU VNC server — a session's VM on a pool host, whose VNC listens on a UNIX
// socket. Ours: WebSocket → the Twinboot server (/api/console, ticket, cookie, Origin) → SSH
// streamlocal channel → the socket. websockify: WebSocket → websockify --unix-target → the
// socket. A direct connection to the socket is measured too, as the floor. Each contender, in
// alternating rounds: bulk throughput (non-incremental full-screen raw updates, back to back, for
// a few seconds) and small-message round trips (the RFB handshake's exchanges, which the server
// answers at once).
// Run: npm run bench -- console. The last line is one JSON object.
import { spawn, type ChildProcess } from "node:child_process";
import { connect } from "node:net";
import WebSocket from "ws";
import { closeDb } from "@/db/client";
import { issueConsoleTicket } from "@/server/console/tickets";
import { CONSOLE_PATH, CONSOLE_SUBPROTOCOL, TICKET_SUBPROTOCOL_PREFIX } from "@/server/console/relay";
import { env } from "@/server/env";
import { createMachine } from "@/server/machines/machines";
import { finishSession, startSession } from "@/server/sessions/session-jobs";
import { createTestUser, signedInCookie } from "@/server/testing/accounts";
import { addFixtureImage } from "@/server/testing/fixture-image";
import { RfbProbe } from "@/server/testing/rfb-probe";
import { setUpBenchHost } from "./bench-pool";

const ROUNDS = 3;
const THROUGHPUT_SECONDS = 4;
const ROUND_TRIPS = 300;
const MiB = 1024 * 1024;

const log = (line: string) => console.log(line);
const now = () => Number(process.hrtime.bigint()) / 1e6; // ms
const percentile = (values: number[], p: number) => [...values].sort((a, b) => a - b)[Math.min(values.length - 1, Math.floor((values.length * p) / 100))]!;
const median = (values: number[]) => percentile(values, 50);
const round = (value: number, digits = 3) => Number(value.toFixed(digits));

/** A probe on a new WebSocket, made in the open event itself (see RfbProbe.overWebSocket). */
function openProbe(url: string, protocols: string[], headers: Record<string, string> = {}): Promise<RfbProbe> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, protocols, { headers, perMessageDeflate: false });
    ws.once("open", () => resolve(RfbProbe.overWebSocket(ws)));
    ws.once("unexpected-response", (_req, res) => reject(new Error(`${url}: HTTP ${res.statusCode}`)));
    ws.once("error", reject);
  });
}

/** Bulk: non-incremental full-screen raw updates, back to back, for a few seconds. */
async function throughput(probe: RfbProbe): Promise<number> {
  await probe.handshake();
  const started = now();
  let bytes = 0;
  while (now() - started < THROUGHPUT_SECONDS * 1000) bytes += await probe.update();
  await probe.close();
  return bytes / MiB / ((now() - started) / 1000);
}

/**
 * Small messages: the handshake's three exchanges (version → security types, security type →
 * result, client init → server init), which the VNC server answers at once, on fresh
 * connections until there are enough. (Screen updates would measure QEMU's refresh timer.)
 */
async function roundTrips(open: () => Promise<RfbProbe>, count: number): Promise<number[]> {
  const times: number[] = [];
  while (times.length < count) {
    const probe = await open();
    times.push(...(await probe.handshake()));
    await probe.close();
  }
  return times;
}

async function waitForPort(port: number) {
  for (let i = 0; i < 100; i++) {
    const open = await new Promise<boolean>((resolve) => {
      const socket = connect(port, "127.0.0.1", () => {
        socket.end();
        resolve(true);
      }).on("error", () => resolve(false));
    });
    if (open) return;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`nothing listens on port ${port}`);
}

async function main() {
  const { tearDown } = await setUpBenchHost();
  let websockify: ChildProcess | null = null;
  try {
    const user = await createTestUser();
    const { machine } = await createMachine({ ownerId: user.id, name: "bench" }, undefined, false);
    const imageId = await addFixtureImage(machine.id);
    const session = await (await startSession({ userId: user.id, imageId, vmType: "compatible" })).done();
    if (session.state !== "running") throw new Error(`the session did not start: ${session.problem}`);
    const socketPath = session.vncSocketPath!;

    // A signed-in browser's cookie, as Auth.js makes it, for the relay's check.
    const { cookie } = await signedInCookie(user);
    const appUrl = new URL(env().APP_URL);
    const relayUrl = `ws://127.0.0.1:${env().PORT}${CONSOLE_PATH}`;

    const websockifyPort = 6080 + Math.floor(Math.random() * 1000);
    websockify = spawn("websockify", [`--unix-target=${socketPath}`, `127.0.0.1:${websockifyPort}`], { stdio: "ignore" });
    await waitForPort(websockifyPort);

    const contenders: Record<string, () => Promise<RfbProbe>> = {
      ours: async () => {
        const { ticket } = await issueConsoleTicket(user.id, session.id);
        return openProbe(relayUrl, [CONSOLE_SUBPROTOCOL, `${TICKET_SUBPROTOCOL_PREFIX}${ticket}`], { Origin: appUrl.origin, Cookie: cookie });
      },
      websockify: () => openProbe(`ws://127.0.0.1:${websockifyPort}/`, ["binary"]),
      direct: async () =>
        new Promise((resolve, reject) => {
          const socket = connect(socketPath, () => resolve(RfbProbe.overSocket(socket))).on("error", reject);
        }),
    };
    const results: Record<string, { mibPerSecond: number[]; roundTripsMs: number[] }> = {};
    for (let r = 0; r < ROUNDS; r++) {
      for (const [label, open] of Object.entries(contenders)) {
        const mibPerSecond = await throughput(await open());
        const times = await roundTrips(open, ROUND_TRIPS);
        results[label] ??= { mibPerSecond: [], roundTripsMs: [] };
        results[label].mibPerSecond.push(mibPerSecond);
        results[label].roundTripsMs.push(...times);
        log(`round ${r + 1}, ${label}: ${mibPerSecond.toFixed(1)} MiB/s, round trip p50 ${median(times).toFixed(3)} ms, p99 ${percentile(times, 99).toFixed(3)} ms`);
      }
    }
    await (await finishSession({ userId: user.id, sessionId: session.id, mode: "discard", shutdownTimeoutMs: 0 })).done();

    const figure = (label: string) => ({
      throughput: median(results[label]!.mibPerSecond),
      p50: median(results[label]!.roundTripsMs),
      p99: percentile(results[label]!.roundTripsMs, 99),
    });
    const [ours, theirs, direct] = [figure("ours"), figure("websockify"), figure("direct")];
    console.log(
      JSON.stringify({
        framebuffer: "720x400x32bpp raw",
        rounds: ROUNDS,
        round_trips_per_round: ROUND_TRIPS,
        ours_throughput_mib_s: round(ours.throughput, 1),
        websockify_throughput_mib_s: round(theirs.throughput, 1),
        direct_throughput_mib_s: round(direct.throughput, 1),
        ours_rtt_p50_ms: round(ours.p50),
        ours_rtt_p99_ms: round(ours.p99),
        websockify_rtt_p50_ms: round(theirs.p50),
        websockify_rtt_p99_ms: round(theirs.p99),
        direct_rtt_p50_ms: round(direct.p50),
        direct_rtt_p99_ms: round(direct.p99),
        throughput_vs_websockify: round(ours.throughput / theirs.throughput),
        p50_vs_websockify: round(ours.p50 / theirs.p50),
        p99_vs_websockify: round(ours.p99 / theirs.p99),
        // Latency each adds over a direct connection to the socket.
        ours_added_p99_ms: round(ours.p99 - direct.p99),
        websockify_added_p99_ms: round(theirs.p99 - direct.p99),
      }),
    );
  } finally {
    websockify?.kill();
    await tearDown();
    await closeDb();
  }
}

await main();
