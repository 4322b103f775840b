// A session VM's screen as the tests see it: domainScreenshot on the VM's host, over the pooled
// SSH connection like every other libvirt call, written to stdout. QEMU answers with PNG where
// libvirt asks for it (libvirt ≥ 8.x with QEMU ≥ 7.1), and with a binary PPM (P6) before: that is
// converted to PNG here, so the screenshot can be opened beside the browser's.
import { writeFileSync } from "node:fs";
import { PNG } from "pngjs";
import type { HypervisorHost } from "@/db/schema";
import { domainScreenshot } from "@/server/pool/domain";
import { domainName } from "@/server/sessions/domain-xml";

export interface Screen {
  width: number;
  height: number;
  png: Buffer;
  /** How many different colours the screen shows: 1 for a blank one. */
  colours: number;
}

function countColours(rgba: Buffer): number {
  const colours = new Set<number>();
  for (let i = 0; i < rgba.length; i += 4) colours.add((rgba[i]! << 16) | (rgba[i + 1]! << 8) | rgba[i + 2]!);
  return colours.size;
}

export function toScreen(image: Buffer): Screen {
  if (image.subarray(0, 8).equals(Buffer.from("89504e470d0a1a0a", "hex"))) {
    const png = PNG.sync.read(image);
    return { width: png.width, height: png.height, png: image, colours: countColours(png.data) };
  }
  const ppm = image;
  const header = /^P6\s+(\d+)\s+(\d+)\s+(\d+)\s/.exec(ppm.subarray(0, 64).toString("latin1"));
  if (!header || header[3] !== "255") throw new Error(`neither PNG nor an 8-bit binary PPM: ${JSON.stringify(ppm.subarray(0, 16).toString("latin1"))}`);
  const [width, height] = [Number(header[1]), Number(header[2])];
  const pixels = ppm.subarray(header[0].length);
  if (pixels.length < width * height * 3) throw new Error(`the PPM is cut short: ${pixels.length} bytes of pixels for ${width}×${height}`);
  const png = new PNG({ width, height });
  for (let i = 0; i < width * height; i++) png.data.set([pixels[i * 3]!, pixels[i * 3 + 1]!, pixels[i * 3 + 2]!, 255], i * 4);
  return { width, height, png: PNG.sync.write(png), colours: countColours(png.data) };
}

export async function screenshotVm(host: HypervisorHost, sessionId: string, savePngTo?: string): Promise<Screen> {
  const screen = toScreen(await domainScreenshot({ host, name: domainName(sessionId) }));
  if (savePngTo) writeFileSync(savePngTo, screen.png);
  return screen;
}
