// Renders public/icon.svg into the PNG icons the manifest names. Run after changing the SVG:
//   npx tsx scripts/make-icons.ts
import { readFile } from "node:fs/promises";
import path from "node:path";
import sharp from "sharp";

const publicDir = path.join(import.meta.dirname, "..", "public");
const svg = await readFile(path.join(publicDir, "icon.svg"));

for (const size of [192, 512]) {
  await sharp(svg, { density: 600 }).resize(size, size).png().toFile(path.join(publicDir, "icons", `icon-${size}.png`));
}
await sharp(svg, { density: 600 }).resize(180, 180).flatten({ background: "#0d8572" }).png().toFile(path.join(publicDir, "icons", "apple-touch-icon.png"));

// Maskable: the glyph inside the central 60% safe zone, on a full-bleed background.
const glyph = await sharp(svg, { density: 600 }).resize(320, 320).png().toBuffer();
await sharp({ create: { width: 512, height: 512, channels: 4, background: "#0d8572" } })
  .composite([{ input: glyph, gravity: "center" }])
  .png()
  .toFile(path.join(publicDir, "icons", "maskable-512.png"));
