import type { Browser } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { env } from "@/server/env";
import { createTestUser } from "@/server/testing/accounts";
import { APP_URL, errorNotice, launchChromium, newContext, screenshot, signIn } from "./support";

let browser: Browser;
beforeAll(async () => {
  browser = await launchChromium();
});
afterAll(async () => {
  await browser?.close();
});

describe("when sign-in or input goes wrong", () => {
  it("says only that the email or password is incorrect", async () => {
    const user = await createTestUser();
    const context = await newContext(browser, "phone");
    const page = await context.newPage();
    await signIn(page, { email: user.email, password: "a wrong password" });
    await expect.poll(() => errorNotice(page).textContent()).toBe("Email or password is incorrect.");
    await signIn(page, { email: "nobody-here@test.twinboot", password: "a wrong password" });
    await expect.poll(() => errorNotice(page).textContent()).toBe("Email or password is incorrect.");
    await screenshot(page, "phone-wrong-password");
    await context.close();
  });

  it("tells a locked account when to try again, and keeps refusing the right password until then", async () => {
    const user = await createTestUser();
    const context = await newContext(browser, "desktop");
    const page = await context.newPage();
    for (let i = 0; i < env().LOGIN_MAX_FAILURES; i++) {
      await signIn(page, { email: user.email, password: `wrong guess number ${i}` });
      await errorNotice(page).waitFor();
    }
    await expect.poll(() => errorNotice(page).textContent()).toMatch(/locked.*Try again at \d\d:\d\d( [AP]M)? \(in 1[45] minutes\)/);
    await signIn(page, user);
    await expect.poll(() => errorNotice(page).textContent()).toMatch(/locked/);
    await page.getByRole("button", { name: "Sign in" }).and(page.locator(":enabled")).waitFor();
    await screenshot(page, "desktop-locked");
    await context.close();
  });

  it("answers malformed tRPC input with a readable 400 and no stack trace", async () => {
    const user = await createTestUser();
    const context = await newContext(browser, "desktop");
    const page = await context.newPage();
    await signIn(page, user);
    await page.getByRole("heading", { name: "Machines", exact: true }).waitFor();
    const res = await page.request.post("/api/trpc/machines.rename", {
      headers: { origin: APP_URL, "content-type": "application/json" },
      data: { json: { machineId: "42", name: "" } },
    });
    expect(res.status()).toBe(400);
    const body = await res.text();
    expect(JSON.parse(body).error.json.message).toBe("machineId: That is not a machine id.");
    expect(body).not.toMatch(/"stack"|\.ts:\d+|node_modules/);

    const forged = await page.request.post("/api/trpc/machines.create", {
      headers: { origin: "https://evil.example", "content-type": "application/json" },
      data: { json: { name: "Forged" } },
    });
    expect(forged.status()).toBe(403);
    await context.close();
  });

  it("signing out everywhere ends the other browser's session at once", async () => {
    const user = await createTestUser();
    const laptop = await newContext(browser, "desktop");
    const phone = await newContext(browser, "phone");
    const [onLaptop, onPhone] = [await laptop.newPage(), await phone.newPage()];
    for (const page of [onLaptop, onPhone]) {
      await signIn(page, user);
      await page.getByRole("heading", { name: "Machines", exact: true }).waitFor();
    }
    await onLaptop.goto("/settings");
    await expect.poll(() => onLaptop.getByRole("button", { name: "Revoke" }).count()).toBe(1);
    await onLaptop.getByRole("button", { name: "Sign out everywhere" }).click();
    await onLaptop.waitForURL("**/signin");

    await onPhone.goto("/settings");
    await onPhone.waitForURL("**/signin");
    const stale = await onPhone.request.get("/api/trpc/account.me");
    expect(stale.status()).toBe(401);
    await laptop.close();
    await phone.close();
  });
});
