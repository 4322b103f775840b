// A Twinboot server process of a spec's own (server.ts, as `npm start` runs it), on a port of its
// own, in its own process group (tsx runs node as a child), with what it printed kept.
import { spawn, type ChildProcess } from "node:child_process";
import path from "node:path";
import { expect } from "vitest";

const root = path.resolve(import.meta.dirname, "..");

export interface AppServer {
  child: ChildProcess;
  port: number;
  url: string;
  output: () => string;
}

/** Starts it and waits until it listens; `env` adds to (or overrides) the spec's own environment. */
export async function startAppServer(port: number, env: Record<string, string> = {}): Promise<AppServer> {
  const url = `http://localhost:${port}`;
  const child = spawn(process.execPath, [path.join(root, "node_modules/.bin/tsx"), "server.ts"], {
    cwd: root,
    env: { ...process.env, PORT: String(port), APP_URL: url, ...env },
    stdio: ["ignore", "pipe", "pipe"],
    detached: true,
  });
  let output = "";
  child.stdout!.on("data", (chunk) => (output += chunk));
  child.stderr!.on("data", (chunk) => (output += chunk));
  await expect.poll(() => output, { timeout: 60_000, interval: 200 }).toContain("listening");
  return { child, port, url, output: () => output };
}

/** Sends `signal` to its whole process group and waits for it to exit. */
export async function stopAppServer(server: AppServer, signal: NodeJS.Signals): Promise<void> {
  if (server.child.exitCode !== null || server.child.signalCode !== null) return;
  const exited = new Promise((resolve) => server.child.once("exit", resolve));
  process.kill(-server.child.pid!, signal);
  await exited;
}
