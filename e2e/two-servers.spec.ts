// Two app servers on one Postgres and one image store, as a deployment behind a load balancer
// runs them: a session started through server A is watched, typed into and finished through
// server B; the server that holds the finishing job is killed (SIGKILL) in the middle and the
// other carries the finish on to a saved image; the change listing queued by B's finish is done
// by A (B runs no libguestfs work: INSPECTION_WORKER=false); and an apply-back request made on A
// reaches the machine's agent listening on B (LISTEN/NOTIFY across processes).
//
// The two servers get a database of their own, so that no third server (the suite's) takes
// their jobs and which server does what is known.
import { execFileSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { and, eq } from "drizzle-orm";
import { afterAll, describe, expect, it } from "vitest";
import { closeDb, db } from "@/db/client";
import { applyRequests, changeSets, jobs, sessions } from "@/db/schema";
import { createMachine } from "@/server/machines/machines";
import { createTestUser } from "@/server/testing/accounts";
import { addFixtureImage } from "@/server/testing/fixture-image";
import { AGENT_API_PREFIX, ZEnrollResponseSchema } from "@/wire/agent";
import { APPLY_REQUESTS_EVENT } from "@/wire/apply-back";
import { startAppServer, stopAppServer, type AppServer } from "./app-server";
import { usePoolHost } from "./pool-host";
import { freePort, launchChromium, screenshot, signIn, VIEWPORTS } from "./support";
import { guestShell, startFromTimeline, typeLine } from "./vm-session";

const suiteDatabaseUrl = process.env.DATABASE_URL!;
const databaseName = `twinboot_two_${randomBytes(4).toString("hex")}`;
const databaseUrl = suiteDatabaseUrl.replace(/\/[^/]+$/, `/${databaseName}`);
execFileSync("psql", [suiteDatabaseUrl, "-qc", `create database ${databaseName}`]);
execFileSync("node", ["bin/twinboot.mjs", "db", "migrate"], { env: { ...process.env, DATABASE_URL: databaseUrl } });
// This spec's own records go to that database too.
await closeDb();
process.env.DATABASE_URL = databaseUrl;

const browserPromise = launchChromium();
const servers: AppServer[] = [];

// Registered first, so it runs last: after the pool host's own clean-up, which needs the database.
afterAll(async () => {
  for (const server of servers) await stopAppServer(server, "SIGKILL").catch(() => undefined);
  await (await browserPromise).close();
  await closeDb();
  process.env.DATABASE_URL = suiteDatabaseUrl;
  execFileSync("psql", [suiteDatabaseUrl, "-qc", `drop database if exists ${databaseName} with (force)`]);
}, 120_000);
usePoolHost("e2e-two");

async function startServer(env: Record<string, string> = {}, port?: number): Promise<AppServer> {
  const server = await startAppServer(port ?? (await freePort()), { DATABASE_URL: databaseUrl, ...env });
  servers.push(server);
  return server;
}

/** The job of `kind` for `key`, newest first. */
async function jobOf(kind: string, key: string) {
  return (await db().select().from(jobs).where(and(eq(jobs.kind, kind), eq(jobs.key, key))).orderBy(jobs.createdAt)).at(-1);
}

/** Whether the job's claim names this server (it says how it claims when it starts listening). */
const heldBy = (server: AppServer, claimedBy: string | null | undefined) => claimedBy === /claims jobs as (\S+)\)/.exec(server.output())?.[1];

describe("two servers on one database", () => {
  it("share sessions, consoles, finishes, jobs and apply-back notices", async () => {
    let a = await startServer();
    const b = await startServer({ INSPECTION_WORKER: "false" });
    const owner = await createTestUser();
    const { machine, enrollmentToken } = await createMachine({ ownerId: owner.id, name: "Office PC" }, undefined, false);
    await addFixtureImage(machine.id);
    const browser = await browserPromise;

    // Started through A; watched, its console opened and typed into, through B.
    const onA = await browser.newContext({ ...VIEWPORTS.desktop, baseURL: a.url });
    const pageA = await onA.newPage();
    await signIn(pageA, owner);
    await pageA.getByRole("heading", { name: "Machines", exact: true }).waitFor();
    const sessionId = await startFromTimeline(pageA, machine.id);

    const onB = await browser.newContext({ ...VIEWPORTS.desktop, baseURL: b.url });
    const pageB = await onB.newPage();
    await signIn(pageB, owner);
    await pageB.getByRole("heading", { name: "Machines", exact: true }).waitFor();
    await pageB.goto(`/sessions/${sessionId}`);
    await expect.poll(() => pageB.getByRole("status").textContent(), { timeout: 30_000 }).toBe("Running");
    await expect.poll(() => pageB.getByTestId("console-link").textContent(), { timeout: 60_000 }).toMatch(/^Connected/);
    await guestShell(pageB, machine.id, sessionId);
    await pageB.getByTestId("console-screen").locator("canvas").click();
    await typeLine(pageB, "echo from server b > /root/two-servers.txt; sync");
    await new Promise((resolve) => setTimeout(resolve, 3000));
    await screenshot(pageB, "two-servers-console-on-b");

    // Finished through B; whichever server holds the finishing job is killed in the middle of it
    // (the fixture ignores ACPI, so the finish waits VM_SHUTDOWN_SECONDS), and the other carries on.
    await pageB.getByRole("button", { name: "Finish…" }).click();
    await pageB.getByRole("button", { name: "Save as incremental" }).click();
    await expect.poll(async () => (await jobOf("finish-session", sessionId))?.state, { timeout: 30_000, interval: 100 }).toBe("running");
    const finish = await jobOf("finish-session", sessionId);
    expect((await db().select().from(sessions).where(eq(sessions.id, sessionId)))[0]!.state).toBe("stopping");
    const [holder, survivor] = heldBy(a, finish!.claimedBy) ? [a, b] : [b, a];
    expect(heldBy(holder, finish!.claimedBy)).toBe(true);
    await stopAppServer(holder, "SIGKILL");
    const watching = survivor === b ? pageB : pageA;
    await watching.goto(`/sessions/${sessionId}`);
    await expect.poll(() => watching.getByRole("status").textContent(), { timeout: 120_000 }).toBe("Saved");
    const finished = await jobOf("finish-session", sessionId);
    expect(finished).toMatchObject({ state: "done", attempts: 2 });
    expect(heldBy(survivor, finished!.claimedBy)).toBe(true);
    expect(finished!.failures[0]!.reason).toMatch(/stopped answering$/);
    await screenshot(watching, "two-servers-saved-after-kill");

    // The killed one comes back (A restarted where it was, if it was A): only A lists changes.
    if (holder === a) a = await startServer({}, a.port);
    else await startServer({ INSPECTION_WORKER: "false" }, b.port);
    await expect.poll(async () => (await db().select().from(changeSets).where(eq(changeSets.sessionId, sessionId)))[0]?.state, { timeout: 300_000, interval: 1000 }).toBe("done");
    const listing = await jobOf("list-changes", sessionId);
    expect(heldBy(a, listing!.claimedBy)).toBe(true);
    await expect.poll(async () => (await jobOf("inspect-image", sessionId))?.state, { timeout: 300_000, interval: 1000 }).toBe("done");
    expect(heldBy(a, (await jobOf("inspect-image", sessionId))!.claimedBy)).toBe(true);

    // The machine's agent listens on B; the request is made on A.
    const bUrl = b.url; // the same port, if it was restarted
    const enrolled = ZEnrollResponseSchema.parse(
      await (await fetch(`${bUrl}${AGENT_API_PREFIX}/enroll`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ token: enrollmentToken }) })).json(),
    );
    const listening = new AbortController();
    const events = await fetch(`${bUrl}${AGENT_API_PREFIX}/machines/${machine.id}/apply-requests/events`, {
      headers: { authorization: `Bearer ${enrolled.credential}` },
      signal: listening.signal,
    });
    expect(events.status).toBe(200);
    let heard = "";
    const reading = (async () => {
      const decoder = new TextDecoder();
      for await (const chunk of events.body!) heard += decoder.decode(chunk, { stream: true });
    })().catch(() => undefined);
    await expect.poll(() => heard, { timeout: 30_000 }).toContain(`event: ${APPLY_REQUESTS_EVENT}`);
    const snapshotsBefore = heard.split(`event: ${APPLY_REQUESTS_EVENT}`).length;

    await pageA.goto(`/sessions/${sessionId}`);
    await pageA.getByRole("button", { name: "Send to Office PC…" }).click();
    await pageA.getByLabel("Your password").fill(owner.password);
    await pageA.getByRole("button", { name: /^Send \d+ changes?$/ }).click();
    await pageA.locator('[data-testid="apply-request"]', { hasText: "Office PC" }).waitFor();
    const [request] = await db().select().from(applyRequests).where(eq(applyRequests.sessionId, sessionId));
    await expect.poll(() => heard.split(`event: ${APPLY_REQUESTS_EVENT}`).length, { timeout: 15_000 }).toBeGreaterThan(snapshotsBefore);
    expect(heard.split(`event: ${APPLY_REQUESTS_EVENT}`).at(-1)).toContain(request!.id);
    await screenshot(pageA, "two-servers-apply-back-sent-on-a");
    listening.abort();
    await reading;
    await onA.close();
    await onB.close();
  }, 900_000);
});
