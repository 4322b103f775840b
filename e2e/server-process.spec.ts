// The server process itself: health, headers, and WebSocket upgrades on the app's port.
import { spawn } from "node:child_process";
import path from "node:path";
import WebSocket from "ws";
import { describe, expect, it } from "vitest";
import { APP_URL, freePort } from "./support";

describe("the server process", () => {
  it("answers /healthz when it and its database are up", async () => {
    const res = await fetch(new URL("/healthz", APP_URL));
    expect(res.status).toBe(200);
    expect(await res.text()).toBe("ok\n");
  });

  it("sends security headers, and never lets a signed-in page be cached", async () => {
    const res = await fetch(new URL("/signin", APP_URL));
    expect(res.headers.get("content-security-policy")).toContain("frame-ancestors 'none'");
    expect(res.headers.get("x-content-type-options")).toBe("nosniff");
    expect(res.headers.get("x-powered-by")).toBeNull();
    const trpc = await fetch(new URL("/api/trpc/account.me", APP_URL));
    expect(trpc.headers.get("cache-control")).toBe("no-store");
  });

  it("takes WebSocket upgrades on its own port, refusing paths no feature claims", async () => {
    const url = new URL("/no-such-socket", APP_URL);
    url.protocol = "ws:";
    const status = await new Promise<number>((resolve, reject) => {
      const socket = new WebSocket(url);
      socket.on("unexpected-response", (_req, res) => {
        resolve(res.statusCode ?? 0);
        socket.terminate();
      });
      socket.on("open", () => reject(new Error("an unclaimed path was upgraded")));
      socket.on("error", () => undefined);
    });
    expect(status).toBe(404);
  });
});

describe("stopping", () => {
  it("exits cleanly on SIGTERM", async () => {
    const port = await freePort();
    const root = path.resolve(import.meta.dirname, "..");
    const child = spawn(process.execPath, [path.join(root, "node_modules/.bin/tsx"), "server.ts"], {
      cwd: root,
      env: { ...process.env, PORT: String(port) },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let output = "";
    child.stdout.on("data", (chunk) => (output += chunk));
    const exited = new Promise<number | null>((resolve) => child.on("exit", resolve));
    await expect.poll(() => output, { timeout: 60_000, interval: 200 }).toContain("listening");
    expect((await fetch(`http://127.0.0.1:${port}/healthz`)).status).toBe(200);
    child.kill("SIGTERM");
    expect(await exited).toBe(0);
    expect(output).toContain("SIGTERM received");
  });
});
