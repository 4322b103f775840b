// WebSocket upgrades on the app's own port. Each feature that needs a socket (the console relay)
// registers a path here; any other upgrade is answered with 404 and closed.
import { STATUS_CODES, type IncomingMessage } from "node:http";
import type { Duplex } from "node:stream";
import { httpStatusOf, isExpectedError, publicMessageOf } from "@/server/error-map";

export type UpgradeHandler = (req: IncomingMessage, socket: Duplex, head: Buffer) => void;

const routes = new Map<string, UpgradeHandler>();

export function registerUpgradeRoute(pathname: string, handler: UpgradeHandler): void {
  routes.set(pathname, handler);
}

/** Hands the upgrade to its route; false when no route claims the path. */
export function routeUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): boolean {
  const pathname = new URL(req.url ?? "/", "http://localhost").pathname;
  const handler = routes.get(pathname);
  if (!handler) return false;
  handler(req, socket, head);
  return true;
}

export function refuseUpgrade(socket: Duplex, status: number, reason: string): void {
  socket.end(`HTTP/1.1 ${status} ${reason}\r\nConnection: close\r\nContent-Type: text/plain\r\n\r\n${reason}\n`);
}

/**
 * Refuses with the error's status from the one error map (server/error-map.ts), the reason being
 * the status text and the error's sentence; an unexpected error is logged and not shown.
 */
export function refuseUpgradeWith(socket: Duplex, error: unknown, logAs = "WebSocket upgrade failed"): void {
  if (!isExpectedError(error)) console.error(`${logAs}:`, error);
  const status = httpStatusOf(error);
  const phrase = STATUS_CODES[status] ?? "Error";
  refuseUpgrade(socket, status, isExpectedError(error) ? `${phrase}: ${publicMessageOf(error).replace(/[\r\n]+/g, " ")}` : phrase);
}
