// The console in Chromium, on a desktop and on a phone with touch: the session page opens the VM's
// screen (noVNC through the relay over SSH) by itself; keys typed into the canvas — or, on the
// phone, into the on-screen keyboard — reach the guest's shell, and what they did is in the saved
// image (libguestfs); the Ctrl+Alt+Del button reaches the guest (the fixture reboots on it). The
// installed app (standalone) does the same in portrait and landscape, and pinch-zooms locally.
// Strings a guest controls (desktop name, clipboard) are shown as text, never run as HTML.
import { readFileSync } from "node:fs";
import path from "node:path";
import { and, eq, gt } from "drizzle-orm";
import type { Page, WebSocketRoute } from "playwright-core";
import { afterAll, describe, expect, it } from "vitest";
import { db } from "@/db/client";
import { consoleTickets } from "@/db/schema";
import { imageFileName, storePath } from "@/server/images/store";
import { guestShell, saveIncremental, startFromTimeline } from "./vm-session";
import { createMachine } from "@/server/machines/machines";
import { createTestUser } from "@/server/testing/accounts";
import { addFixtureImage } from "@/server/testing/fixture-image";
import { inImage } from "@/server/testing/image-files";
import { actAsHostileGuest } from "./hostile-vnc";
import { usePoolHost } from "./pool-host";
import { installAndLaunchApp, launchChromium, launchPersistentPhone, newContext, SCREENSHOTS, signIn } from "./support";
import { pinchAround, twoFingerDrag } from "./touch";

usePoolHost("e2e-console");
const browserPromise = launchChromium();

afterAll(async () => {
  await (await browserPromise).close();
});

async function guestFile(image: string, file: string): Promise<string> {
  return (await inImage(image, ["cat", file])).trimEnd();
}

/** The viewport as the user sees it (the console is fixed to it; the page under it may be longer). */
async function screenshot(page: Page, name: string) {
  await page.screenshot({ path: path.join(SCREENSHOTS, `${name}.png`) });
}

/** A new user with a machine whose base image is the office-PC fixture. */
async function ownerOfOfficePc() {
  const user = await createTestUser();
  const { machine } = await createMachine({ ownerId: user.id, name: "Office PC" }, undefined, false);
  const baseId = await addFixtureImage(machine.id);
  return { user, machine, baseId };
}

/** Types a line through the phone's on-screen keyboard (the ⌨ button), and lets the guest run it. */
async function typeOnPhone(page: Page, line: string) {
  await page.getByRole("button", { name: "Keyboard" }).tap();
  await page.keyboard.type(line);
  await page.keyboard.press("Enter");
  await new Promise((resolve) => setTimeout(resolve, 3000));
}

const HOSTILE_NAME = `<img src=x onerror="window.pwned=1">Office`;
const HOSTILE_CLIPBOARD = `<b class="guest">bold</b><script>window.pwned=2</script>`;

describe("the console", () => {
  it("takes real key events on a desktop, and sends Ctrl+Alt+Del", async () => {
    const { user, machine, baseId } = await ownerOfOfficePc();
    const context = await newContext(await browserPromise, "desktop");
    const page = await context.newPage();
    let first = true;
    await page.routeWebSocket(/\/api\/console$/, (ws) => {
      if (first) actAsHostileGuest(ws, { desktopName: HOSTILE_NAME, clipboard: HOSTILE_CLIPBOARD });
      else ws.connectToServer();
      first = false;
    });
    await signIn(page, user);
    await page.getByRole("heading", { name: "Machines", exact: true }).waitFor();
    const sessionId = await startFromTimeline(page, machine.id);

    // What the guest said is shown as it is, and nothing of it ran.
    const toolbar = page.getByRole("toolbar", { name: "Console" });
    await toolbar.getByText(HOSTILE_NAME, { exact: true }).waitFor();
    await toolbar.getByRole("button", { name: "Clipboard" }).click();
    expect(await page.getByLabel("Clipboard from the VM").inputValue()).toBe(HOSTILE_CLIPBOARD);
    await screenshot(page, "console-desktop-guest-strings");
    expect(await page.evaluate(() => (window as { pwned?: number }).pwned)).toBeUndefined();
    expect(await page.locator("img[src='x'], b.guest").count()).toBe(0);
    await toolbar.getByRole("button", { name: "Clipboard" }).click();
    await guestShell(page, machine.id, sessionId);

    await page.getByTestId("console-screen").locator("canvas").click();
    // As a person types: Shift held for the shifted characters.
    await page.keyboard.type("echo typed in the browser ");
    await page.keyboard.press("Shift+Period");
    await page.keyboard.type(" /root/from-browser; sync");
    await page.keyboard.press("Enter");
    await new Promise((resolve) => setTimeout(resolve, 3000));
    await screenshot(page, "console-desktop");
    expect(await page.getByTestId("console-link").textContent()).toMatch(/^Connected\s*· \d+ ms$/);

    // The fixture's init reboots on Ctrl+Alt+Del: a second boot shows in the serial log.
    await page.getByRole("button", { name: "Ctrl+Alt+Del" }).click();
    await guestShell(page, machine.id, sessionId, 2);

    const image = await saveIncremental(page, sessionId);
    expect(await guestFile(image, "/root/from-browser")).toBe("typed in the browser");
    expect(await guestFile(storePath(imageFileName(machine.id, baseId)), "/etc/hostname")).toBe("office-pc");

    // What changed, file by file, listed on the session page: the typed file, to download.
    const typed = page.locator('[data-testid="change"][data-path="/root/from-browser"]');
    await typed.waitFor({ timeout: 300_000 });
    expect(await typed.textContent()).toMatch(/\+ added/);
    // The file is read out of the image by a libguestfs appliance first: seconds, more under TCG.
    const [download] = await Promise.all([page.waitForEvent("download", { timeout: 180_000 }), typed.getByRole("link", { name: "Download" }).click()]);
    expect(readFileSync(await download.path(), "utf8")).toBe("typed in the browser\n");
    await screenshot(page, "session-changes-desktop");
    await context.close();
  }, 400_000);

  it("takes the phone's on-screen keyboard, with touch", async () => {
    const { user, machine } = await ownerOfOfficePc();
    const context = await newContext(await browserPromise, "phone");
    const page = await context.newPage();
    // The console's WebSockets pass through Playwright, which can drop one as a network would.
    const consoles: WebSocketRoute[] = [];
    await page.routeWebSocket(/\/api\/console$/, (ws) => {
      consoles.push(ws);
      ws.connectToServer();
    });
    await signIn(page, user);
    await page.getByRole("heading", { name: "Machines", exact: true }).waitFor();
    const sessionId = await startFromTimeline(page, machine.id);
    await guestShell(page, machine.id, sessionId);

    await page.getByTestId("console-screen").locator("canvas").tap();
    await page.getByRole("button", { name: "Keyboard" }).tap();
    expect(await page.evaluate(() => document.activeElement?.getAttribute("aria-label"))).toBe("Type into the VM");
    await typeOnPhone(page, "echo typed on a phone > /root/from-phone; sync");
    await screenshot(page, "console-phone");
    await page.setViewportSize({ width: 844, height: 390 });
    await new Promise((resolve) => setTimeout(resolve, 1000));
    await screenshot(page, "console-phone-landscape");

    // A network blip: the connection drops; the viewer reconnects by itself, with a new ticket.
    const blip = new Date();
    const link = page.getByTestId("console-link");
    await consoles.at(-1)!.close({ code: 4000, reason: "network blip" });
    await expect.poll(() => link.textContent(), { timeout: 30_000 }).toMatch(/^Reconnecting/);
    await expect.poll(() => link.textContent(), { timeout: 60_000 }).toMatch(/^Connected/);
    const tickets = await db().select().from(consoleTickets).where(and(eq(consoleTickets.sessionId, sessionId), gt(consoleTickets.createdAt, blip)));
    expect(tickets.length).toBeGreaterThan(0);

    const image = await saveIncremental(page, sessionId);
    expect(await guestFile(image, "/root/from-phone")).toBe("typed on a phone");
    await context.close();
  }, 400_000);

  it("works from the installed app, standalone, in portrait and landscape, and pinch-zooms on the phone", async () => {
    const { user, machine } = await ownerOfOfficePc();
    const { context, close } = await launchPersistentPhone();
    try {
      const tab = context.pages()[0] ?? (await context.newPage());
      await signIn(tab, user);
      await tab.getByRole("heading", { name: "Machines", exact: true }).waitFor();
      const app = await installAndLaunchApp(context, tab);
      await tab.close();
      expect(await app.evaluate(() => matchMedia("(display-mode: standalone)").matches)).toBe(true);
      const sessionId = await startFromTimeline(app, machine.id);
      await guestShell(app, machine.id, sessionId);

      await app.getByTestId("console-screen").locator("canvas").tap();
      await typeOnPhone(app, "echo typed in the app > /root/from-app; sync");
      await screenshot(app, "console-app-portrait");

      // Pinch out: the picture is zoomed here (the VM's screen is unchanged); two fingers pan it.
      const screen = app.getByTestId("console-screen");
      const area = (await screen.locator("..").boundingBox())!;
      const picture = (await screen.locator("canvas").boundingBox())!;
      const centre = { x: picture.x + picture.width / 2, y: picture.y + picture.height / 2 };
      await pinchAround(app, centre, 80, 240);
      const reset = app.getByRole("button", { name: /^Zoomed to \d+ %/ });
      await reset.waitFor();
      const zoomed = (await screen.boundingBox())!;
      expect(zoomed.width / area.width).toBeGreaterThan(1.5);
      await twoFingerDrag(app, centre, 100, 0);
      await expect.poll(async () => (await screen.boundingBox())!.x).toBeGreaterThan(zoomed.x + 50);
      await screenshot(app, "console-app-zoomed");
      await reset.tap();
      await expect.poll(async () => (await screen.boundingBox())!.width).toBeCloseTo(area.width, 0);

      await app.setViewportSize({ width: 844, height: 390 });
      await new Promise((resolve) => setTimeout(resolve, 1000));
      const canvas = (await screen.locator("canvas").boundingBox())!;
      expect(canvas.x).toBeGreaterThanOrEqual(0);
      expect(canvas.x + canvas.width).toBeLessThanOrEqual(844.5);
      expect(canvas.y + canvas.height).toBeLessThanOrEqual(390.5);
      await typeOnPhone(app, "echo landscape >> /root/from-app; sync");
      await screenshot(app, "console-app-landscape");

      const image = await saveIncremental(app, sessionId);
      expect(await guestFile(image, "/root/from-app")).toBe("typed in the app\nlandscape");
    } finally {
      await close();
    }
  }, 400_000);
});
