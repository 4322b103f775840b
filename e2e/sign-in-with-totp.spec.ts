import type { Browser } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  createUserWithTotp,
  errorNotice,
  expectNoHorizontalOverflow,
  launchChromium,
  newContext,
  screenshot,
  signIn,
} from "./support";

let browser: Browser;
beforeAll(async () => {
  browser = await launchChromium();
});
afterAll(async () => {
  await browser?.close();
});

describe.each(["desktop", "phone"] as const)("on a %s", (viewport) => {
  it("signs in with a TOTP code, adds a machine and opens the settings", async () => {
    const user = await createUserWithTotp();
    const context = await newContext(browser, viewport);
    const page = await context.newPage();

    await page.goto("/");
    await page.waitForURL("**/signin");
    await expectNoHorizontalOverflow(page);
    await screenshot(page, `${viewport}-1-sign-in`);

    await signIn(page, user);
    await page.getByLabel("Authentication code").waitFor();
    await expectNoHorizontalOverflow(page);
    await screenshot(page, `${viewport}-2-second-factor`);

    await page.getByLabel("Authentication code").fill("000000");
    await page.getByRole("button", { name: "Verify" }).click();
    await expect.poll(() => errorNotice(page).textContent()).toMatch(/code is not right/);

    await page.getByLabel("Authentication code").fill(user.code());
    await page.getByRole("button", { name: "Verify" }).click();
    await page.getByRole("heading", { name: "No machines yet" }).waitFor();
    expect(new URL(page.url()).pathname).toBe("/");
    await expectNoHorizontalOverflow(page);
    await screenshot(page, `${viewport}-3-machines-empty`);

    await page.getByLabel("Name").fill(`Office PC with a rather long name for ${viewport}`);
    await page.getByRole("button", { name: "Add", exact: true }).click();
    const command = page.getByLabel("Enrollment command");
    await command.waitFor();
    expect(await command.textContent()).toMatch(/^twinboot-agent enroll --server http:\/\/\S+ --token tbe_[\w-]{43}$/);
    await expectNoHorizontalOverflow(page);
    await screenshot(page, `${viewport}-4-machine-added`);

    await page.getByRole("button", { name: "Done" }).click();
    await page.getByRole("link", { name: /Office PC with a rather long name/ }).click();
    await page.getByRole("heading", { name: "Bringing changes home" }).waitFor();
    await expectNoHorizontalOverflow(page);
    await screenshot(page, `${viewport}-5-machine`);

    await page.getByRole("link", { name: "Settings" }).click();
    await page.getByRole("heading", { name: "Where you’re signed in" }).waitFor();
    await expect.poll(() => page.getByText("This device").count()).toBe(1);
    await expectNoHorizontalOverflow(page);
    await screenshot(page, `${viewport}-6-settings`);

    await context.close();
  });
});
