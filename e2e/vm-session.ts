// Driving a VM session of the office-PC fixture from the browser, for specs: start it from the
// timeline, wait for the guest's shell (its line in the serial log), type into it as a person
// does, and save it.
import { readFileSync } from "node:fs";
import path from "node:path";
import { eq } from "drizzle-orm";
import type { Page } from "playwright-core";
import { expect, vi } from "vitest";
import { db } from "@/db/client";
import { images, sessions } from "@/db/schema";
import { storePath } from "@/server/images/store";
import { serialLogName } from "@/server/sessions/start-session";
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

export async function startFromTimeline(page: Page, machineId: string): Promise<string> {
  await page.goto(`/machines/${machineId}`);
  await page.getByRole("button", { name: /base/ }).click();
  await page.getByRole("button", { name: "Start", exact: true }).click();
  await page.waitForURL(/\/sessions\/[0-9a-f-]{36}$/);
  const sessionId = page.url().split("/").at(-1)!;
  await expect.poll(() => page.getByTestId("console-link").textContent(), { timeout: 120_000 }).toMatch(/^Connected/);
  return sessionId;
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
