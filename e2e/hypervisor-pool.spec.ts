// An administrator adds a host of the test pool from the admin page (pasting its private key),
// sees its pinned host key and capacity, drains it and removes it; a user cannot see the page.
import { readFileSync } from "node:fs";
import { afterAll, describe, expect, it } from "vitest";
import { getVmNetwork } from "@/server/settings/vm-network";
import { createTestUser } from "@/server/testing/accounts";
import { errorNotice, expectNoHorizontalOverflow, launchChromium, newContext, screenshot, signIn } from "./support";

const poolFile = process.env.TEST_POOL;
if (!poolFile) throw new Error("TEST_POOL is not set: run the tests with npm test, which starts the test pool.");
const [poolHost] = (JSON.parse(readFileSync(poolFile, "utf8")) as { hosts: { ssh: string; key: string }[] }).hosts;
const browserPromise = launchChromium();

afterAll(async () => {
  await (await browserPromise).close();
});

describe("the hypervisor pool page", () => {
  it("lets an administrator add, drain and remove a host, showing its pinned key", async () => {
    const admin = await createTestUser("admin");
    const name = `e2e-${Math.random().toString(36).slice(2, 8)}`;
    for (const kind of ["desktop", "phone"] as const) {
      const context = await newContext(await browserPromise, kind);
      const page = await context.newPage();
      await signIn(page, admin);
      await page.getByRole("heading", { name: "Machines", exact: true }).waitFor();
      await page.getByRole("link", { name: "Hosts" }).click();
      await page.getByRole("heading", { name: "Hypervisor hosts" }).waitFor();
      if (kind === "desktop") {
        // A wrong login first: the error says what happened, and nothing is added.
        await page.getByLabel("Name").fill(name);
        await page.getByLabel("SSH login").fill("nobody@10.77.1.2");
        await page.getByLabel("Private key").fill(readFileSync(poolHost!.key, "utf8"));
        await page.getByLabel("libvirt URI (optional)").fill("qemu:///session");
        await page.getByRole("button", { name: "Add host" }).click();
        await expect.poll(() => errorNotice(page).textContent(), { timeout: 30_000 }).toMatch(/Cannot connect to nobody@10\.77\.1\.2 over SSH: it refused the key\./);
        await page.getByLabel("SSH login").fill(poolHost!.ssh);
        await page.getByRole("button", { name: "Add host" }).click();
        await expect.poll(() => page.getByText(/is pinned: any other key is refused/).count(), { timeout: 60_000 }).toBe(1);
        expect(await page.getByLabel("Private key").inputValue()).toBe("");
      }
      const entry = page.getByRole("listitem").filter({ hasText: name });
      await expect.poll(() => entry.getByText("enabled", { exact: true }).count()).toBe(1);
      expect(await entry.textContent()).toMatch(/Pinned host key SHA256:\S{43}/);
      expect(await entry.textContent()).toMatch(/\d+ CPUs, [\d.]+ GiB, no working KVM: VMs run under TCG/);
      await expectNoHorizontalOverflow(page);
      await screenshot(page, `hosts-${kind}`);
      await context.close();
    }

    const context = await newContext(await browserPromise, "desktop");
    const page = await context.newPage();
    await signIn(page, admin);
    await page.getByRole("heading", { name: "Machines", exact: true }).waitFor();
    await page.goto("/admin/hosts");
    const entry = page.getByRole("listitem").filter({ hasText: name });
    await entry.getByRole("button", { name: "Drain" }).click();
    await expect.poll(() => entry.getByText("draining", { exact: true }).count()).toBe(1);
    page.once("dialog", (dialog) => void dialog.accept());
    await entry.getByRole("button", { name: "Remove" }).click();
    await expect.poll(() => page.getByRole("listitem").filter({ hasText: name }).count()).toBe(0);

    // The VMs' network: none until the admin chooses the isolated NAT (and back).
    const none = page.getByRole("radio", { name: /^No network/ });
    const nat = page.getByRole("radio", { name: /^Isolated NAT/ });
    await expect.poll(() => none.isChecked()).toBe(true);
    await nat.click();
    await expect.poll(() => getVmNetwork()).toBe("nat");
    expect(await page.getByText(/10\.0\.2\.2, leads to the host's own loopback/).count()).toBe(1);
    await screenshot(page, "hosts-vm-network-desktop");
    await none.click();
    await expect.poll(() => getVmNetwork()).toBe("none");
    await context.close();
  });

  it("is not for users", async () => {
    const user = await createTestUser();
    const context = await newContext(await browserPromise, "phone");
    const page = await context.newPage();
    await signIn(page, user);
    await page.getByRole("heading", { name: "Machines", exact: true }).waitFor();
    expect(await page.getByRole("link", { name: "Hosts" }).count()).toBe(0);
    await page.goto("/admin/hosts");
    await page.getByRole("heading", { name: "Machines", exact: true }).waitFor();
    await context.close();
  });
});
