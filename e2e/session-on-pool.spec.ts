// A user starts a VM session from the timeline in Chromium, on a host of the test pool: the page
// follows it from request to running (host, size, time), and Finish → Save as incremental makes
// a new image whose parent is the one the session started from; the usage page counts it. On the
// phone, the user makes Discard their default in Settings and signs out: the VM is discarded.
import { eq } from "drizzle-orm";
import { afterAll, describe, expect, it } from "vitest";
import { db } from "@/db/client";
import { images, sessions, users } from "@/db/schema";
import { createMachine } from "@/server/machines/machines";
import { createTestUser } from "@/server/testing/accounts";
import { addFixtureImage } from "@/server/testing/fixture-image";
import { expectNoHorizontalOverflow, launchChromium, newContext, screenshot, signIn } from "./support";
import { usePoolHost } from "./pool-host";

const hostName = usePoolHost("e2e-session");
const browserPromise = launchChromium();


afterAll(async () => {
  await (await browserPromise).close();
});

describe("a session started from the timeline", () => {
  it("runs on a pool host, and is saved as an incremental image", async () => {
    const user = await createTestUser();
    const { machine } = await createMachine({ ownerId: user.id, name: "Reception PC" }, undefined, false);
    const baseId = await addFixtureImage(machine.id);

    for (const kind of ["phone", "desktop"] as const) {
      const context = await newContext(await browserPromise, kind);
      const page = await context.newPage();
      await signIn(page, user);
      await page.getByRole("heading", { name: "Machines", exact: true }).waitFor();
      if (kind === "phone") {
        // This user's VMs are discarded when nobody finishes them.
        await page.goto("/settings");
        await page.getByLabel("Finish a VM after no input for").selectOption({ label: "2 hours" });
        await page.getByText("Saved.").waitFor();
        await page.getByRole("radio", { name: /^Discard/ }).click();
        await expect.poll(async () => (await db().select().from(users).where(eq(users.id, user.id)))[0]).toMatchObject({ idleTimeoutMinutes: 120, defaultFinishMode: "discard" });
        await screenshot(page, "settings-vm-preferences-phone");
      }
      await page.goto(`/machines/${machine.id}`);
      await page.getByRole("button", { name: /base/ }).click();
      if (kind === "desktop") await page.getByRole("radio", { name: /Fast/ }).check();
      await page.getByRole("button", { name: "Start", exact: true }).click();
      await page.waitForURL(/\/sessions\/[0-9a-f-]{36}$/);
      const status = page.getByRole("status");
      await expect.poll(() => status.textContent(), { timeout: 90_000 }).toBe("Running");
      // The VM's screen opens over the page (e2e/console.spec.ts); its ✕ shows the details.
      await page.getByRole("button", { name: "Session details" }).click();
      expect(await page.getByText(hostName).count()).toBe(1);
      expect(await page.getByText(kind === "desktop" ? /Fast \(virtio\), 1 vCPU, 1024 MiB/ : /Compatible \(SATA, e1000\), 1 vCPU, 1024 MiB/).count()).toBe(1);
      await expectNoHorizontalOverflow(page);
      await screenshot(page, `session-running-${kind}`);

      const sessionId = page.url().split("/").at(-1)!;
      if (kind === "phone") {
        // Signing out of the only signed-in device finishes the VM with the user's default.
        await page.getByRole("button", { name: "Sign out" }).click();
        await page.waitForURL(/\/signin/);
        const current = async () => (await db().select().from(sessions).where(eq(sessions.id, sessionId)))[0]!;
        await expect.poll(async () => (await current()).state, { timeout: 90_000 }).toBe("discarded");
        expect((await current()).finishMode).toBe("discard");
      } else {
        await page.getByRole("button", { name: "Save as incremental" }).click();
        await expect.poll(() => status.textContent(), { timeout: 90_000 }).toBe("Saved");
        await screenshot(page, `session-saved-${kind}`);
        const [saved] = await db().select().from(sessions).where(eq(sessions.id, sessionId));
        const [image] = await db().select().from(images).where(eq(images.id, saved!.savedImageId!));
        expect(image).toMatchObject({ parentId: baseId, kind: "incremental", origin: "session" });
        await page.getByRole("link", { name: "See it on the timeline" }).click();
        await expect.poll(() => page.getByText("from a session").count(), { timeout: 10_000 }).toBe(1);
        // Both sessions ran (the phone's was discarded): usage counts them.
        await page.goto("/settings");
        await page.getByRole("link", { name: "Usage" }).click();
        const row = page.getByRole("row").filter({ hasText: "Reception PC" });
        await expect.poll(() => row.count()).toBe(1);
        expect(await row.getByRole("cell").nth(1).textContent()).toBe("2");
        await screenshot(page, `usage-${kind}`);
      }
      await context.close();
    }
  }, 400_000);
});
