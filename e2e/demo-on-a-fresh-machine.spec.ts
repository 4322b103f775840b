// `npm run demo` as a newcomer runs it: from an empty state folder, on ports of its own (the ones
// README documents), twice, signing in each time with what it printed; then `npm run demo -- stop`.
// It uses nothing of the suite's server or database, only what the demo sets up for itself, and
// leaves a real demo (/var/lib/twinboot, port 3000) alone.
import { execFileSync, spawn } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import type { Browser } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { freePort, launchChromium, screenshot, signIn, VIEWPORTS } from "./support";

const root = path.resolve(import.meta.dirname, "..");
const RUN_MS = 600_000;

interface Printed {
  url: string;
  email: string;
  password: string;
}

let browser: Browser;
let state: string;
let knobs: Record<string, string>;
let printed: Printed;

/** `npm run demo [-- ARGS]` in the environment a root shell has, plus only the demo's documented knobs. */
async function npmRunDemo(args: string[] = []): Promise<string> {
  const env: Record<string, string> = { PATH: process.env.PATH!, HOME: process.env.HOME ?? "/root", LANG: "C.UTF-8", ...knobs };
  // The run's tag (scripts/test.sh), read by no part of Twinboot: what outlives the run is swept.
  if (process.env.TWINBOOT_TEST_RUN) env.TWINBOOT_TEST_RUN = process.env.TWINBOOT_TEST_RUN;
  const child = spawn("npm", ["run", "--silent", "demo", ...(args.length ? ["--", ...args] : [])], {
    cwd: root,
    // No NODE_ENV or any other variable of the suite's: a shell's, as README's reader has.
    env: env as NodeJS.ProcessEnv,
    stdio: ["ignore", "pipe", "pipe"],
    detached: true,
  });
  let output = "";
  child.stdout.on("data", (chunk) => (output += chunk));
  child.stderr.on("data", (chunk) => (output += chunk));
  const timer = setTimeout(() => process.kill(-child.pid!, "SIGKILL"), RUN_MS - 30_000);
  const code = await new Promise<number | null>((resolve) => child.on("exit", resolve));
  clearTimeout(timer);
  const plain = output.replace(/\x1b\[[0-9;]*m/g, "");
  expect(code, plain).toBe(0);
  return plain;
}

function whatItPrinted(output: string): Printed {
  const url = /Twinboot is running at\s+(\S+)/.exec(output)?.[1];
  const signInLines = /Sign in with\s+(\S+)\n\s+(\S+)/.exec(output);
  expect(url && signInLines, output).toBeTruthy();
  return { url: url!, email: signInLines![1]!, password: signInLines![2]! };
}

/** A pid from one of the demo's pid files (Postgres: the first line of postmaster.pid). */
function pidIn(file: string): number {
  return Number(readFileSync(path.join(state, file), "utf8").split("\n")[0]);
}

/** Running, not a zombie left for init to reap. */
function alive(pid: number): boolean {
  try {
    return !/^\d+ \(.*\) Z /.test(readFileSync(`/proc/${pid}/stat`, "utf8"));
  } catch {
    return false;
  }
}

/** Signs in with what the demo printed and finds its machine with a base and an incremental image. */
async function signInAndSeeTheOfficePc(shot: string) {
  const context = await browser.newContext({ ...VIEWPORTS.desktop, baseURL: printed.url });
  const page = await context.newPage();
  try {
    await signIn(page, printed);
    await page.getByRole("heading", { name: "Machines", exact: true }).waitFor();
    await page.getByRole("link", { name: /Office PC/ }).click();
    await expect.poll(() => page.getByRole("button", { name: /\bbase\b/ }).count()).toBe(1);
    await expect.poll(() => page.getByRole("button", { name: /\bincremental\b/ }).count()).toBe(1);
    await screenshot(page, shot);
    // Its hypervisor host: this machine, reached through the demo's own sshd.
    await page.goto("/admin/hosts");
    const host = page.getByRole("listitem").filter({ hasText: "this-machine" });
    await expect.poll(() => host.getByText("enabled", { exact: true }).count(), { timeout: 60_000 }).toBe(1);
  } finally {
    await context.close();
  }
}

beforeAll(async () => {
  // A stale build would make the demo rebuild .next, from which the suite's own server serves.
  execFileSync("bash", ["-c", 'source scripts/lib.sh && { build_is_fresh || die "the build is stale: npm run build first"; }'], { cwd: root });
  state = mkdtempSync(path.join(tmpdir(), "twinboot-demo-"));
  const ports = new Set<number>();
  while (ports.size < 3) ports.add(await freePort());
  const [app, postgres, ssh] = [...ports].map(String);
  knobs = { TWINBOOT_STATE_DIR: state, PORT: app!, POSTGRES_PORT: postgres!, HYPERVISOR_SSH_PORT: ssh! };
  browser = await launchChromium();
});

afterAll(async () => {
  await browser?.close();
  if (state && existsSync(state)) {
    if (existsSync(path.join(state, "demo.env"))) await npmRunDemo(["stop"]).catch(() => undefined);
    rmSync(state, { recursive: true, force: true });
  }
}, RUN_MS);

describe("the demo on a fresh machine", () => {
  it("starts from an empty state folder and prints a sign-in that opens the demo machine's backups", async () => {
    const output = await npmRunDemo();
    expect(output).toContain("The app's build is up to date");
    printed = whatItPrinted(output);
    expect(printed.url).toBe(`http://localhost:${knobs.PORT}`);
    await signInAndSeeTheOfficePc("demo-timeline");
  }, RUN_MS);

  it("runs again on the same folder: the same data and sign-in, a new server", async () => {
    const before = pidIn("server.pid");
    const output = await npmRunDemo();
    expect(output).not.toMatch(/Creating the demo user|Backing up the demo machine|Building the app/);
    expect(whatItPrinted(output)).toEqual(printed);
    const after = pidIn("server.pid");
    expect(after).not.toBe(before);
    expect(alive(before)).toBe(false);
    await signInAndSeeTheOfficePc("demo-timeline-again");
  }, RUN_MS);

  it("stops everything it started with `npm run demo -- stop`", async () => {
    const pids = {
      server: pidIn("server.pid"),
      agent: pidIn("agent/agent.pid"),
      sshd: pidIn("hypervisor/sshd/sshd.pid"),
      postgres: pidIn("postgres/postmaster.pid"),
    };
    for (const pid of Object.values(pids)) expect(alive(pid)).toBe(true);
    await npmRunDemo(["stop"]);
    for (const [what, pid] of Object.entries(pids)) expect(alive(pid), `the demo's ${what}`).toBe(false);
    expect(readFileSync("/proc/mounts", "utf8")).not.toContain(state);
    expect(execFileSync("losetup", ["--list", "--noheadings", "--output", "BACK-FILE"], { encoding: "utf8" })).not.toContain(state);
    rmSync(state, { recursive: true });
  }, RUN_MS);
});
