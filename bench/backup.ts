// Benchmark: backing up a 2 GiB disk image with twinboot-agent, side by side with
// `qemu-img convert -O qcow2` of the same disk and `cat disk > /dev/null` in one run; then 5% of
// the 64 KiB blocks changed at random, and an incremental. Run: npm run bench -- backup
// (scripts/bench.sh starts Postgres and the server). The last line is one JSON object.
import { execFileSync, spawnSync } from "node:child_process";
import { randomBytes, randomInt } from "node:crypto";
import { copyFileSync, openSync, readFileSync, writeFileSync, writeSync, closeSync } from "node:fs";
import path from "node:path";
import { eq } from "drizzle-orm";
import { closeDb, db } from "@/db/client";
import { images } from "@/db/schema";
import { createMachine } from "@/server/machines/machines";
import { createTestUser } from "@/server/testing/accounts";

const GiB = 1024 ** 3;
const DISK_BYTES = 2 * GiB;
const BLOCK = 64 * 1024;
const work = process.env.BENCH_WORK_DIR!;
const root = path.resolve(import.meta.dirname, "..");
const disk = path.join(work, "disk.raw");

function seconds(fn: () => void): number {
  const started = process.hrtime.bigint();
  fn();
  return Number(process.hrtime.bigint() - started) / 1e9;
}

function agent(args: string[]) {
  const run = spawnSync(process.execPath, [path.join(root, "bin/twinboot-agent.mjs"), ...args], { encoding: "utf8" });
  if (run.status !== 0) throw new Error(`twinboot-agent ${args.join(" ")} failed: ${run.stderr}`);
  return run.stdout;
}

function log(line: string) {
  console.log(line);
}

// A disk like a used one: 1.5 GiB of incompressible data, then 0.5 GiB never written (zeros).
log("Writing a 2 GiB disk image (1.5 GiB data, 0.5 GiB zeros)…");
{
  const fd = openSync(disk, "w");
  const chunk = randomBytes(16 * 1024 * 1024);
  for (let offset = 0; offset < 1.5 * GiB; offset += chunk.length) {
    chunk.writeUInt32LE(offset / chunk.length, 0); // no two chunks alike
    writeSync(fd, chunk, 0, chunk.length, offset);
  }
  closeSync(fd);
  execFileSync("truncate", ["-s", String(DISK_BYTES), disk]);
}

const owner = await createTestUser();
const { enrollmentToken } = await createMachine({ ownerId: owner.id, name: "bench" }, undefined, false);
const config = path.join(work, "agent.json");
agent(["enroll", "--server", process.env.APP_URL!, "--token", enrollmentToken, "--config", config]);
writeFileSync(config, JSON.stringify({ ...JSON.parse(readFileSync(config, "utf8")), stateDir: path.join(work, "agent-state") }));

// The first read warms the page cache, so that every contender reads the disk from memory alike.
const readDisk = () => execFileSync("sh", ["-c", 'cat "$1" > /dev/null', "sh", disk]);
readDisk();
// Each contender starts with no dirty pages left by the one before, which writeback would charge to it.
const settle = () => execFileSync("sync");
settle();
const catSeconds = seconds(readDisk);
settle();
const convertSeconds = seconds(() => execFileSync("qemu-img", ["convert", "-O", "qcow2", disk, path.join(work, "convert.qcow2")]));
// A backup is on disk when it is reported done; qemu-img convert leaves its output in the page
// cache. The same convert followed by fdatasync is the like-for-like peer.
settle();
const convertSyncedSeconds = seconds(() => {
  execFileSync("qemu-img", ["convert", "-O", "qcow2", disk, path.join(work, "convert-synced.qcow2")]);
  execFileSync("sync", ["--data", path.join(work, "convert-synced.qcow2")]);
});
settle();
let full = { imageId: "", bytesSent: 0 };
const fullSeconds = seconds(() => {
  full = JSON.parse(agent(["backup", "--config", config, "--device", disk, "--json"]));
});
copyFileSync(disk, path.join(work, "v1.raw"));
log(
  `cat ${catSeconds.toFixed(2)} s, qemu-img convert ${convertSeconds.toFixed(2)} s (${convertSyncedSeconds.toFixed(2)} s with fdatasync), full backup ${fullSeconds.toFixed(2)} s`,
);

// Change 5% of the blocks at random, with new data.
const blocks = DISK_BYTES / BLOCK;
const changedBlocks = new Set<number>();
while (changedBlocks.size < Math.round(blocks * 0.05)) changedBlocks.add(randomInt(blocks));
{
  const fd = openSync(disk, "r+");
  for (const block of changedBlocks) writeSync(fd, randomBytes(BLOCK), 0, BLOCK, block * BLOCK);
  closeSync(fd);
}
const changedBytes = changedBlocks.size * BLOCK;
settle();
let incremental = { imageId: "", bytesSent: 0 };
const incrementalSeconds = seconds(() => {
  incremental = JSON.parse(agent(["backup", "--config", config, "--device", disk, "--json"]));
});
log(`incremental ${incrementalSeconds.toFixed(2)} s, sent ${(incremental.bytesSent / 2 ** 20).toFixed(1)} MiB for ${(changedBytes / 2 ** 20).toFixed(1)} MiB changed`);

const fileOf = async (id: string) => path.join(process.env.IMAGE_STORE_DIR!, (await db().select().from(images).where(eq(images.id, id)))[0]!.file);
const equal = (qcow2: string, raw: string) =>
  spawnSync("qemu-img", ["compare", "-q", "-f", "qcow2", "-F", "raw", qcow2, raw]).status === 0;
const imagesEqual = equal(await fileOf(full.imageId), path.join(work, "v1.raw")) && equal(await fileOf(incremental.imageId), disk);
await closeDb();

const round = (n: number) => Math.round(n * 1000) / 1000;
console.log(
  JSON.stringify({
    disk_bytes: DISK_BYTES,
    cat_seconds: round(catSeconds),
    convert_seconds: round(convertSeconds),
    convert_synced_seconds: round(convertSyncedSeconds),
    full_seconds: round(fullSeconds),
    incremental_seconds: round(incrementalSeconds),
    changed_bytes: changedBytes,
    incremental_bytes_sent: incremental.bytesSent,
    full_vs_convert: round(fullSeconds / convertSeconds),
    full_vs_convert_synced: round(fullSeconds / convertSyncedSeconds),
    full_vs_cat: round(fullSeconds / catSeconds),
    incremental_vs_full: round(incrementalSeconds / fullSeconds),
    incremental_bytes_vs_changed: round(incremental.bytesSent / changedBytes),
    images_equal: imagesEqual,
  }),
);
