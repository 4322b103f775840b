// The server is killed (SIGKILL: no chance to tidy up) while a user's VM runs on a pool host, and
// again while the user's "Save as incremental" is shutting the VM down. Each time a new server
// process starts in its place: the session is still there, running, and the interrupted finish is
// carried on to a saved image — the user just keeps the page open. The finish is a job: a live
// server on the machine takes over the killed one's claim at once (its process is gone).
import { and, eq } from "drizzle-orm";
import { afterAll, describe, expect, it } from "vitest";
import { db } from "@/db/client";
import { images, jobs, sessions } from "@/db/schema";
import { createMachine } from "@/server/machines/machines";
import { createTestUser } from "@/server/testing/accounts";
import { addFixtureImage } from "@/server/testing/fixture-image";
import { freePort, launchChromium, screenshot, signIn, VIEWPORTS } from "./support";
import { usePoolHost } from "./pool-host";
import { startAppServer, stopAppServer, type AppServer } from "./app-server";

usePoolHost("e2e-restart");
const browserPromise = launchChromium();

let server: AppServer | null = null;


afterAll(async () => {
  if (server) await stopAppServer(server, "SIGTERM").catch(() => undefined);
  await (await browserPromise).close();
});

describe("a server killed while a session runs", () => {
  it("finds the session again on restart, and carries an interrupted finish on to a saved image", async () => {
    const user = await createTestUser();
    const { machine } = await createMachine({ ownerId: user.id, name: "Front desk PC" }, undefined, false);
    const baseId = await addFixtureImage(machine.id);
    const port = await freePort();
    server = await startAppServer(port);

    const context = await (await browserPromise).newContext({ ...VIEWPORTS.desktop, baseURL: `http://localhost:${port}` });
    const page = await context.newPage();
    await signIn(page, user);
    await page.getByRole("heading", { name: "Machines", exact: true }).waitFor();
    await page.goto(`/machines/${machine.id}`);
    await page.getByRole("button", { name: /base/ }).click();
    await page.getByRole("button", { name: "Start", exact: true }).click();
    await page.waitForURL(/\/sessions\/[0-9a-f-]{36}$/);
    const sessionId = page.url().split("/").at(-1)!;
    const status = page.getByRole("status");
    await expect.poll(() => status.textContent(), { timeout: 90_000 }).toBe("Running");

    // Killed while the VM runs; a new process on the same port finds it running.
    await stopAppServer(server, "SIGKILL");
    server = await startAppServer(port);
    await page.reload();
    await expect.poll(() => status.textContent(), { timeout: 30_000 }).toBe("Running");
    await page.getByRole("button", { name: "Session details" }).click();
    expect((await db().select().from(sessions).where(eq(sessions.id, sessionId)))[0]!.state).toBe("running");
    await screenshot(page, "session-after-server-restart");

    // Killed while the finish waits for the guest to power off (the fixture ignores ACPI, so
    // this lasts VM_SHUTDOWN_SECONDS); the finish is carried on. It is a job: whichever server
    // claimed it (this one, or the suite's) — if it was this one, the takeover is on the job's row.
    await page.getByRole("button", { name: "Save as incremental" }).click();
    const finishJob = async () => (await db().select().from(jobs).where(and(eq(jobs.kind, "finish-session"), eq(jobs.key, sessionId))))[0];
    await expect.poll(async () => (await finishJob())?.state, { timeout: 30_000, interval: 100 }).toBe("running");
    expect((await db().select().from(sessions).where(eq(sessions.id, sessionId)))[0]!.state).toBe("stopping");
    const claimant = (await finishJob())!.claimedBy;
    const killedHeldIt = claimant === /claims jobs as (\S+)\)/.exec(server.output())?.[1];
    await stopAppServer(server, "SIGKILL");
    server = await startAppServer(port);
    if (killedHeldIt) {
      await expect.poll(async () => (await finishJob())?.failures.length, { timeout: 60_000 }).toBe(1);
      expect((await finishJob())!.failures[0]!.reason).toBe(`the process running it (${claimant}) stopped answering`);
    }
    await page.reload();
    await expect.poll(() => status.textContent(), { timeout: 90_000 }).toBe("Saved");
    expect((await finishJob())!.state).toBe("done");
    const [saved] = await db().select().from(sessions).where(eq(sessions.id, sessionId));
    const [image] = await db().select().from(images).where(eq(images.id, saved!.savedImageId!));
    expect(image).toMatchObject({ parentId: baseId, kind: "incremental", origin: "session" });
    await screenshot(page, "session-saved-after-server-restart");
    await context.close();
  }, 400_000);
});
