// Driving a VM session from the browser, for specs: start it from the timeline (with a firmware
// chosen), wait for the guest (the office-PC fixture's shell, or any line, in the serial log), type
// into it as a person does — on a Linux console, logging in at its getty and seeing a typed line
// finish by the coloured mark it prints — and save it.
import { readFileSync } from "node:fs";
import path from "node:path";
import { eq } from "drizzle-orm";
import type { Page } from "playwright-core";
import { expect, vi } from "vitest";
import { db } from "@/db/client";
import { images, sessions } from "@/db/schema";
import { storePath } from "@/server/images/store";
import { serialLogName } from "@/server/sessions/start-session";
import { VM_FIRMWARE_LABELS, type VmFirmware } from "@/wire/firmware";
import { SCREENSHOTS } from "./support";

export function serialLog(machineId: string, sessionId: string): string {
  try {
    return readFileSync(storePath(serialLogName(machineId, sessionId)), "utf8");
  } catch {
    return "";
  }
}

/** Waits for the fixture's shell (its ready line in the serial log, `boots` times); shows the screen if it does not come. */
export async function guestShell(page: Page, machineId: string, sessionId: string, boots = 1) {
  await vi
    .waitFor(() => expect(serialLog(machineId, sessionId).split("twinboot-fixture: ready").length - 1).toBeGreaterThanOrEqual(boots), {
      timeout: 180_000,
      interval: 1000,
    })
    .catch(async (error: unknown) => {
      await page.screenshot({ path: path.join(SCREENSHOTS, "console-boot-timeout.png") });
      throw error;
    });
  await new Promise((resolve) => setTimeout(resolve, 2000));
}

/** Opens the machine's timeline and selects its image whose button matches `image` (the base one by default). */
export async function selectImage(page: Page, machineId: string, image: RegExp = /base/) {
  await page.goto(`/machines/${machineId}`);
  await page.getByRole("button", { name: image }).click();
  await page.getByLabel("Selected image").waitFor();
}

/** The Start controls' firmware choice `firmware` (its label, with " (found)" when it is the disk's preset). */
export function firmwareChoice(page: Page, firmware: VmFirmware) {
  const label = VM_FIRMWARE_LABELS[firmware].replace(/[()]/g, "\\$&");
  return page.getByRole("radio", { name: new RegExp(`^${label}(?: \\(found\\))?(?! with)`) });
}

/** Starts a VM from the selected image (with `firmware` chosen first, if given) and waits for its console. */
export async function startSelected(page: Page, firmware?: VmFirmware): Promise<string> {
  if (firmware) await firmwareChoice(page, firmware).check();
  await page.getByRole("button", { name: "Start", exact: true }).click();
  await page.waitForURL(/\/sessions\/[0-9a-f-]{36}$/);
  const sessionId = page.url().split("/").at(-1)!;
  await expect.poll(() => page.getByTestId("console-link").textContent(), { timeout: 120_000 }).toMatch(/^Connected/);
  return sessionId;
}

export async function startFromTimeline(page: Page, machineId: string): Promise<string> {
  await selectImage(page, machineId);
  return startSelected(page);
}

export async function saveIncremental(page: Page, sessionId: string): Promise<string> {
  await page.getByRole("button", { name: "Finish…" }).click();
  await page.getByRole("button", { name: "Save as incremental" }).click();
  await expect.poll(() => page.getByRole("status").textContent(), { timeout: 90_000 }).toBe("Saved");
  const [saved] = await db().select().from(sessions).where(eq(sessions.id, sessionId));
  const [image] = await db().select().from(images).where(eq(images.id, saved!.savedImageId!));
  return storePath(image!.file);
}


/**
 * Types a shell line into the console's canvas as a person does: Shift held for capitals and for
 * the shifted characters a line needs here (> and |), then Enter. (Keys sent without Shift reach
 * the guest as their unshifted selves.) An emulated guest drops keys that come faster than it
 * draws them, or while it is busy: keep lines short, and let each finish before the next.
 */
export async function typeLine(page: Page, line: string) {
  const KEY_DELAY_MS = 25;
  const shifted: Record<string, string> = { ">": "Shift+Period", "|": "Shift+Backslash" };
  for (const part of line.split(/([A-Z>|])/)) {
    if (shifted[part]) await page.keyboard.press(shifted[part]);
    else if (/^[A-Z]$/.test(part)) await page.keyboard.press(`Shift+Key${part}`);
    else if (part) await page.keyboard.type(part, { delay: KEY_DELAY_MS });
  }
  await page.keyboard.press("Enter");
  await new Promise((resolve) => setTimeout(resolve, 1500));
}

/** Waits for a line the guest wrote to its serial port (echo … > /dev/ttyS0). */
export async function serialLine(machineId: string, sessionId: string, line: string, timeout = 180_000) {
  await vi.waitFor(() => expect(serialLog(machineId, sessionId)).toContain(line), { timeout, interval: 1000 });
}

/** Colours of the Linux console's palette (VGA's), with the SGR code that sets each as the background. */
const CONSOLE_COLOURS = {
  grey: { sgr: 47, rgb: [170, 170, 170] },
  green: { sgr: 42, rgb: [0, 170, 0] },
  brown: { sgr: 43, rgb: [170, 85, 0] },
  cyan: { sgr: 46, rgb: [0, 170, 170] },
} as const;
type ConsoleColour = keyof typeof CONSOLE_COLOURS;

/** How many pixels of the VM's screen (the console's canvas, at the guest's resolution) are `colour`. */
export async function screenPixels(page: Page, colour: ConsoleColour): Promise<number> {
  return page
    .getByTestId("console-screen")
    .locator("canvas")
    .evaluate((canvas: HTMLCanvasElement, [r, g, b]) => {
      const { data } = canvas.getContext("2d")!.getImageData(0, 0, canvas.width, canvas.height);
      let count = 0;
      for (let i = 0; i < data.length; i += 4) if (Math.abs(data[i]! - r) < 8 && Math.abs(data[i + 1]! - g) < 8 && Math.abs(data[i + 2]! - b) < 8) count++;
      return count;
    }, CONSOLE_COLOURS[colour].rgb);
}

/**
 * Types a line into a Linux console's shell that ends by printing a word on a `colour` background,
 * and waits until that colour grows on the screen: the line, and everything typed before it, has
 * run. (The screen cannot be read as text; a coloured block is easy to see.)
 */
export async function runOnConsole(page: Page, line: string, colour: ConsoleColour, timeout = 120_000) {
  const before = await screenPixels(page, colour);
  await typeLine(page, `${line}; printf '\\e[${CONSOLE_COLOURS[colour].sgr}m twinboot-e2e \\e[0m\\n'`);
  // The word's background is some 1,500 pixels in the console's 8x16 font.
  await vi.waitFor(async () => expect(await screenPixels(page, colour)).toBeGreaterThan(before + 500), { timeout, interval: 1000 });
}

/**
 * Logs in on a Linux console's getty (its login prompt showing) as a person does: the name, then,
 * once "Password: " is on the screen (more grey text than the name's echo), the password; the shell
 * is up when a line run in it shows. Kernel messages on the console can look like the prompt, and
 * login throws away a password typed before it asks: then it says "Login incorrect" and asks for
 * the name again, and so does this, up to three times.
 */
export async function logInOnConsole(page: Page, user: { name: string; password: string }, timeout = 180_000) {
  await page.getByTestId("console-screen").locator("canvas").click();
  const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
  for (let attempt = 1; ; attempt++) {
    await page.keyboard.type(user.name, { delay: 25 });
    await sleep(1000);
    const echoed = await screenPixels(page, "grey");
    await page.keyboard.press("Enter");
    await vi.waitFor(async () => expect(await screenPixels(page, "grey")).toBeGreaterThan(echoed + 100), { timeout: 60_000, interval: 500 }).catch(() => undefined);
    await sleep(1000);
    await typeLine(page, user.password);
    try {
      await runOnConsole(page, "cd", "green", attempt < 3 ? 90_000 : timeout);
      return;
    } catch (error) {
      if (attempt === 3) throw error;
      await page.screenshot({ path: path.join(SCREENSHOTS, `console-login-attempt-${attempt}.png`) });
      await sleep(5000); // login's delay after a failed attempt, then its prompt again
    }
  }
}
