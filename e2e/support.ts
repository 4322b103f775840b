// Shared pieces for the end-to-end specs: Debian's Chromium through playwright-core, the two
// viewports we care about, screenshots, and test users made through the server's own code.
import { mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import { chromium, type Browser, type BrowserContext, type BrowserContextOptions, type Page } from "playwright-core";
import { expect } from "vitest";
import { beginTotpSetup, confirmTotpSetup } from "@/server/account/second-factor-settings";
import { totpCode } from "@/server/auth/totp";
import { createTestUser } from "@/server/testing/accounts";

export const APP_URL = process.env.APP_URL!;
export const SCREENSHOTS = path.join(import.meta.dirname, "screenshots");
mkdirSync(SCREENSHOTS, { recursive: true });

const LAUNCH_OPTIONS = {
  executablePath: process.env.CHROMIUM_PATH ?? "/usr/bin/chromium",
  headless: true,
  args: [
    "--no-sandbox",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-gpu",
    "--no-first-run",
  ],
};

/** A TCP port free on 127.0.0.1 right now, for a server process of a test's own. */
export async function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const probe = createServer().listen(0, "127.0.0.1", () => {
      const { port } = probe.address() as { port: number };
      probe.close(() => resolve(port));
    });
  });
}

export function launchChromium(): Promise<Browser> {
  return chromium.launch(LAUNCH_OPTIONS);
}

/**
 * A browser profile on disk, as a real user has: Chromium never offers to install an app from an
 * incognito (throwaway) context, which is what launchChromium's contexts are.
 */
export async function launchPersistentPhone(): Promise<{ context: BrowserContext; close: () => Promise<void> }> {
  const profile = mkdtempSync(path.join(tmpdir(), "twinboot-e2e-profile-"));
  const context = await chromium.launchPersistentContext(profile, { ...LAUNCH_OPTIONS, ...VIEWPORTS.phone, baseURL: APP_URL });
  return {
    context,
    close: async () => {
      await context.close();
      rmSync(profile, { recursive: true, force: true });
    },
  };
}

/**
 * Installs the web app from `page` as a person would from the browser's menu (Chromium's PWA
 * domain, in a persistent profile), set to open in its own window, and opens it: the page of
 * the standalone app window.
 */
export async function installAndLaunchApp(context: BrowserContext, page: Page): Promise<Page> {
  await page.evaluate(() => navigator.serviceWorker.ready);
  const cdp = await context.newCDPSession(page);
  // The manifest has no id: its id is its start_url.
  const manifestId = new URL("/", APP_URL).toString();
  await cdp.send("PWA.install", { manifestId, installUrlOrBundleUrl: page.url() });
  await cdp.send("PWA.changeAppUserSettings", { manifestId, displayMode: "standalone" });
  const opened = context.waitForEvent("page");
  await cdp.send("PWA.launch", { manifestId });
  const app = await opened;
  await app.waitForLoadState();
  await cdp.detach();
  return app;
}

export const VIEWPORTS: Record<"desktop" | "phone", BrowserContextOptions> = {
  desktop: { colorScheme: "light", viewport: { width: 1280, height: 800 }, deviceScaleFactor: 1 },
  // The phone also prefers a dark theme, so that the screenshots show both colour schemes.
  phone: {
    colorScheme: "dark",
    viewport: { width: 390, height: 844 },
    deviceScaleFactor: 3,
    isMobile: true,
    hasTouch: true,
    userAgent:
      "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/156.0.0.0 Mobile Safari/537.36",
  },
};

export async function newContext(browser: Browser, kind: keyof typeof VIEWPORTS): Promise<BrowserContext> {
  return browser.newContext({ ...VIEWPORTS[kind], baseURL: APP_URL });
}

export async function screenshot(page: Page, name: string): Promise<void> {
  await page.screenshot({ path: path.join(SCREENSHOTS, `${name}.png`), fullPage: true });
}

/** Fails when anything makes the page wider than the viewport (sideways scrolling on a phone). */
export async function expectNoHorizontalOverflow(page: Page): Promise<void> {
  const { scrollWidth, innerWidth } = await page.evaluate(() => ({
    scrollWidth: document.documentElement.scrollWidth,
    innerWidth: window.innerWidth,
  }));
  expect(scrollWidth, `page ${page.url()} is ${scrollWidth}px wide in a ${innerWidth}px viewport`).toBeLessThanOrEqual(innerWidth);
}

/** A user with TOTP on; `code()` gives a code the server has not seen yet. */
export async function createUserWithTotp() {
  const user = await createTestUser();
  const meta = { ip: null, userAgent: "e2e" };
  const { secret } = await beginTotpSetup(user, { password: user.password }, meta);
  // Confirm with the previous step's code, so the current step's code is still unused for sign-in.
  const recoveryCodes = await confirmTotpSetup(user.id, totpCode(secret, Date.now() - 30_000), meta);
  return { ...user, recoveryCodes, code: () => totpCode(secret) };
}

export async function signIn(page: Page, user: { email: string; password: string }) {
  await page.goto("/signin");
  await page.getByLabel("Email").fill(user.email);
  await page.getByLabel("Password").fill(user.password);
  await page.getByRole("button", { name: "Sign in" }).click();
}

/** The page's own error notice (Next.js adds an empty role=alert route announcer of its own). */
export function errorNotice(page: Page) {
  return page.locator('[role="alert"]:not(#__next-route-announcer__)');
}
