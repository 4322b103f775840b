// The process refuses to start on a bad environment, with one line that names the variable.
import { spawnSync } from "node:child_process";
import path from "node:path";
import { describe, expect, it } from "vitest";

const root = path.resolve(import.meta.dirname, "..");

function startServer(overrides: Record<string, string | undefined>) {
  const env: NodeJS.ProcessEnv = { ...process.env, PORT: "1", ...overrides };
  for (const [key, value] of Object.entries(overrides)) if (value === undefined) delete env[key];
  return spawnSync(process.execPath, [path.join(root, "node_modules/.bin/tsx"), "server.ts"], {
    cwd: root,
    env,
    encoding: "utf8",
    timeout: 30_000,
  });
}

describe("starting with a bad environment", () => {
  it("stops with one line naming a missing variable", () => {
    const run = startServer({ AUTH_SECRET: undefined });
    expect(run.status).toBe(1);
    expect(run.stderr.trim().split("\n")).toEqual([expect.stringMatching(/^twinboot: Environment variable AUTH_SECRET is required/)]);
  });

  it("stops with one line naming a malformed variable", () => {
    const run = startServer({ DATA_ENCRYPTION_KEY: "c2hvcnQ=" });
    expect(run.status).toBe(1);
    expect(run.stderr.trim()).toBe("twinboot: Environment variable DATA_ENCRYPTION_KEY must be 32 bytes in base64 (openssl rand -base64 32)");
  });

  it("refuses plain http outside localhost", () => {
    const run = startServer({ APP_URL: "http://twinboot.example.com" });
    expect(run.status).toBe(1);
    expect(run.stderr.trim()).toMatch(/APP_URL must be https:\/\/ outside localhost/);
  });
});
