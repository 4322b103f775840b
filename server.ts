// The Twinboot server process: Next.js pages and APIs, plus WebSocket upgrades, on one port.
// Validates the environment first, and shuts down gracefully on SIGTERM and SIGINT.
import { createServer, type IncomingMessage } from "node:http";
import { sql } from "drizzle-orm";
import next from "next";
import { closeDb, db } from "./db/client";
import { env, EnvError } from "./server/env";
import { removeLeftoverExports } from "./server/images/export-image";
import { startJobs } from "./server/jobs/registry";
import { JOB_CLAIMANT } from "./server/jobs/runner";
import { closeAllHostConnections } from "./server/pool/host-connections";
import { startHealthChecks } from "./server/pool/hosts";
import { startIdleSweep } from "./server/sessions/auto-finish";
import { reconcileAllHosts } from "./server/sessions/reconcile";
import { routeExtentStream } from "./server/agent-api/extent-stream-route";
import { CONSOLE_PATH, handleConsoleUpgrade } from "./server/console/relay";
import { refuseUpgrade, registerUpgradeRoute, routeUpgrade } from "./server/http/upgrade-routes";
import { CLIENT_IP_HEADER } from "./server/request-meta";


function loadEnvOrExit() {
  try {
    return env();
  } catch (error) {
    if (error instanceof EnvError) {
      console.error(`twinboot: ${error.message}`);
      process.exit(1);
    }
    throw error;
  }
}

/** The client's address, from the socket, or from the proxy's X-Forwarded-For when TRUST_PROXY is on. */
function clientIp(req: IncomingMessage, trustProxy: boolean): string {
  const forwarded = req.headers["x-forwarded-for"];
  if (trustProxy && typeof forwarded === "string") {
    const last = forwarded.split(",").at(-1)?.trim();
    if (last) return last;
  }
  return (req.socket.remoteAddress ?? "").replace(/^::ffff:/, "");
}

const config = loadEnvOrExit();
// Auth.js builds its URLs from AUTH_URL; derive it from the one origin we configure.
process.env.AUTH_URL = new URL("/api/auth", config.APP_URL).toString();

const dev = config.NODE_ENV !== "production";
const app = next({ dev, hostname: config.HOST, port: config.PORT });
const handle = app.getRequestHandler();
await app.prepare();
const nextUpgrade = app.getUpgradeHandler();

const server = createServer((req, res) => {
  // Overwrite, never trust, whatever the client sent in this header.
  req.headers[CLIENT_IP_HEADER] = clientIp(req, config.TRUST_PROXY);
  if (req.url === "/healthz") {
    db()
      .execute(sql`select 1`)
      .then(() => res.writeHead(200, { "content-type": "text/plain" }).end("ok\n"))
      .catch(() => res.writeHead(503, { "content-type": "text/plain" }).end("database unreachable\n"));
    return;
  }
  if (routeExtentStream(req, res)) return;
  void handle(req, res);
});

registerUpgradeRoute(CONSOLE_PATH, handleConsoleUpgrade);
server.on("upgrade", (req, socket, head) => {
  req.headers[CLIENT_IP_HEADER] = clientIp(req, config.TRUST_PROXY);
  if (routeUpgrade(req, socket, head)) return;
  // In development Next.js uses a socket of its own for hot reloading.
  if (dev && req.url?.startsWith("/_next/")) return void nextUpgrade(req, socket, head);
  refuseUpgrade(socket, 404, "Not Found");
});

void removeLeftoverExports().catch((error: unknown) => console.error("Removing leftover exports failed:", error));
// Every long piece of work is a job (server/jobs); libguestfs work only where INSPECTION_WORKER
// allows it. Leftovers of a killed server (appliances, NBD daemons, temporary folders) are swept first.
const jobRunner = await startJobs({ appliance: config.INSPECTION_WORKER });
// After each health check, sessions and domains are brought into agreement, and sessions whose
// finish has no job (any more) get one.
const stopHealthChecks = startHealthChecks(() => reconcileAllHosts({ shutdownTimeoutMs: config.VM_SHUTDOWN_SECONDS * 1000 }));
const stopIdleSweep = startIdleSweep(config.VM_SHUTDOWN_SECONDS * 1000);

server.listen(config.PORT, config.HOST, () => {
  console.log(`Twinboot listening on http://${config.HOST}:${config.PORT} (public URL ${config.APP_URL}; claims jobs as ${JOB_CLAIMANT})`);
});

let stopping = false;
async function shutdown(signal: string) {
  if (stopping) return;
  stopping = true;
  console.log(`${signal} received: releasing running jobs and finishing open requests, then stopping.`);
  const forced = setTimeout(() => {
    console.error("Requests still open after 20 s; stopping anyway.");
    process.exit(1);
  }, 20_000);
  forced.unref();
  stopHealthChecks();
  stopIdleSweep();
  // Running attempts go back to the queue (not counted) for another process, whatever requests
  // (event streams, consoles) keep the HTTP server open.
  const released = jobRunner.stop().catch((error: unknown) => console.error("Releasing running jobs failed:", error));
  server.close(async () => {
    await released;
    closeAllHostConnections();
    await closeDb();
    process.exit(0);
  });
  server.closeIdleConnections();
}
process.on("SIGTERM", () => void shutdown("SIGTERM"));
process.on("SIGINT", () => void shutdown("SIGINT"));
