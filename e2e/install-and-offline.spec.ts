import { describe, expect, it } from "vitest";
import { APP_URL, createUserWithTotp, launchPersistentPhone, screenshot, signIn } from "./support";

describe("the installable app", () => {
  it("serves a complete web app manifest with reachable icons", async () => {
    const res = await fetch(new URL("/manifest.webmanifest", APP_URL));
    expect(res.status).toBe(200);
    const manifest = (await res.json()) as {
      name: string;
      short_name: string;
      display: string;
      start_url: string;
      scope: string;
      theme_color: string;
      icons: { src: string; sizes: string; purpose: string }[];
    };
    expect(manifest).toMatchObject({ name: "Twinboot", short_name: "Twinboot", display: "standalone", start_url: "/", scope: "/" });
    expect(manifest.theme_color).toMatch(/^#[0-9a-f]{6}$/i);
    expect(manifest.icons.map((i) => `${i.sizes} ${i.purpose}`).sort()).toEqual(["192x192 any", "512x512 any", "512x512 maskable"]);
    for (const icon of manifest.icons) {
      const image = await fetch(new URL(icon.src, APP_URL));
      expect(image.headers.get("content-type")).toBe("image/png");
    }
  });

  it("registers its service worker, is installable in Chromium, and shows the offline page without a network", async () => {
    const { context, close } = await launchPersistentPhone();
    const page = context.pages()[0] ?? (await context.newPage());
    await page.goto("/signin");
    const scriptURL = await page.evaluate(async () => (await navigator.serviceWorker.ready).active?.scriptURL);
    expect(scriptURL).toBe(new URL("/sw.js", APP_URL).toString());

    // Chromium's own verdict on installability (manifest, icons, service worker, secure context).
    const cdp = await context.newCDPSession(page);
    await page.reload();
    await page.evaluate(() => navigator.serviceWorker.ready);
    const { installabilityErrors } = (await cdp.send("Page.getInstallabilityErrors")) as {
      installabilityErrors: { errorId: string }[];
    };
    expect(installabilityErrors).toEqual([]);

    // Sign in, so that there are signed-in pages the worker could wrongly have cached.
    const user = await createUserWithTotp();
    await signIn(page, user);
    await page.getByLabel("Authentication code").fill(user.code());
    await page.getByRole("button", { name: "Verify" }).click();
    await page.getByRole("heading", { name: "Machines", exact: true }).waitFor();
    await page.goto("/settings");
    await page.getByRole("heading", { name: "Settings" }).waitFor();

    await context.setOffline(true);
    await page.goto("/settings").catch(() => undefined);
    await page.getByRole("heading", { name: "You’re offline" }).waitFor();
    expect(await page.getByText(user.email).count()).toBe(0);
    await screenshot(page, "phone-offline");

    // The worker's caches hold the static shell only: no tRPC answers and no signed-in pages.
    const cached = await page.evaluate(async () => {
      const urls: string[] = [];
      for (const name of await caches.keys()) {
        for (const request of await (await caches.open(name)).keys()) urls.push(new URL(request.url).pathname);
      }
      return urls;
    });
    expect(cached).toContain("/offline");
    expect(cached.filter((u) => u.startsWith("/api/") || ["/", "/settings", "/signin"].includes(u))).toEqual([]);

    await context.setOffline(false);
    await page.goto("/settings");
    await page.getByRole("heading", { name: "Settings" }).waitFor();
    await close();
  });
});
