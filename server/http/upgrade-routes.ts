// WebSocket upgrades on the app's own port. Each feature that needs a socket (the console relay)
// registers a path here; any other upgrade is answered with 404 and closed.
import type { IncomingMessage } from "node:http";
import type { Duplex } from "node:stream";

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

export function refuseUpgrade(socket: Duplex, status: 400 | 401 | 403 | 404 | 409 | 429 | 500 | 502, reason: string): void {
  socket.end(`HTTP/1.1 ${status} ${reason}\r\nConnection: close\r\nContent-Type: text/plain\r\n\r\n${reason}\n`);
}
