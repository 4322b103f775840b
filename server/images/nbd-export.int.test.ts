// Writing backup extents into qcow2 files through a real qemu-storage-daemon and our NBD client:
// contents read back exactly (via NBD and via qemu-img), overlays keep only what changed, zero
// extents hide backing data, and a daemon that dies makes calls fail instead of hang.
import { execFile } from "node:child_process";
import { mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import { afterEach, describe, expect, it } from "vitest";
import { NbdClient } from "@/server/images/nbd-client";
import { openNbdExport, type NbdExport } from "@/server/images/nbd-export";
import { createQcow2, createQcow2Overlay, qemuImgCheck, qemuImgCompare, qemuImgInfo } from "@/server/images/qcow2";

const run = promisify(execFile);
const KiB = 1024;
const MiB = 1024 * KiB;
const CLUSTER = 64 * KiB;

type Extent = { offset: number; data: Buffer } | { offset: number; zeroLength: number };

/** Deterministic bytes that differ by seed and rarely repeat, so misplaced data shows. */
function pattern(length: number, seed: number): Buffer {
  const out = Buffer.allocUnsafe(length);
  let state = (seed * 2654435761) >>> 0 || 1;
  for (let i = 0; i < length; i++) {
    state ^= state << 13;
    state ^= state >>> 17;
    state ^= state << 5;
    state >>>= 0;
    out[i] = state & 0xff;
  }
  return out;
}

/** What the disk should hold after the extents, applied in order to `initial`. */
function applyInMemory(initial: Buffer, extents: Extent[]): Buffer {
  const expected = Buffer.from(initial);
  for (const extent of extents) {
    if ("data" in extent) extent.data.copy(expected, extent.offset);
    else expected.fill(0, extent.offset, extent.offset + extent.zeroLength);
  }
  return expected;
}

/** All issued at once: pipelining, with overlapping extents still landing in order. */
async function writeExtents(client: NbdClient, extents: Extent[]) {
  await Promise.all(extents.map((extent) => ("data" in extent ? client.write(extent.offset, extent.data) : client.writeZeroes(extent.offset, extent.zeroLength))));
}

async function rawContents(dir: string, image: string): Promise<Buffer> {
  const raw = path.join(dir, `${path.basename(image)}.raw`);
  await run("qemu-img", ["convert", "-O", "raw", image, raw]);
  const contents = await readFile(raw);
  await rm(raw);
  return contents;
}

interface QemuImgMapEntry {
  start: number;
  length: number;
  depth: number;
  zero: boolean;
  data: boolean;
}

async function qemuImgMap(image: string): Promise<QemuImgMapEntry[]> {
  const { stdout } = await run("qemu-img", ["map", "--output=json", image]);
  return JSON.parse(stdout) as QemuImgMapEntry[];
}

const cleanups: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function tempDir() {
  const dir = await mkdtemp(path.join(os.tmpdir(), "twinboot-nbd-test-"));
  cleanups.push(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

async function exportOf(file: string, dir: string): Promise<NbdExport> {
  const nbd = await openNbdExport({ file, socketPath: path.join(dir, `${path.basename(file)}.sock`) });
  cleanups.push(() => nbd.close().catch(() => undefined));
  return nbd;
}

describe("writing extents through qemu-storage-daemon", () => {
  it("writes data and zero extents into a standalone qcow2 exactly", async () => {
    const dir = await tempDir();
    const file = path.join(dir, "full.qcow2");
    const size = 8 * MiB;
    await createQcow2({ file, virtualSize: size });
    const extents: Extent[] = [
      { offset: 0, data: pattern(CLUSTER, 1) },
      { offset: 5 * CLUSTER + 123, data: pattern(200_000, 2) },
      { offset: 2 * MiB, data: pattern(MiB, 3) },
      { offset: 2 * MiB + 512 * KiB + 100, zeroLength: 10_000 }, // inside the previous extent
      { offset: 2 * MiB + 700 * KiB, data: pattern(3 * CLUSTER, 4) }, // overlaps it too
      { offset: size - 4 * KiB, data: pattern(4 * KiB, 5) },
    ];
    const expected = applyInMemory(Buffer.alloc(size), extents);

    const nbd = await exportOf(file, dir);
    expect(nbd.client.size).toBe(size);
    expect(nbd.client.canWriteZeroes).toBe(true);
    await writeExtents(nbd.client, extents);
    expect((await nbd.client.read(0, size)).equals(expected)).toBe(true);
    await nbd.close();

    expect((await rawContents(dir, file)).equals(expected)).toBe(true);
    await qemuImgCheck(file);
    const info = await qemuImgInfo(file);
    expect(info).toMatchObject({ format: "qcow2", virtualSize: size });
    expect(info.backingFilename).toBeUndefined();
  });

  it("writes an overlay that merges partial clusters with the base and hides it under zero extents", async () => {
    const dir = await tempDir();
    const base = path.join(dir, "a", "base.qcow2");
    const overlay = path.join(dir, "b", "overlay.qcow2");
    await mkdir(path.dirname(base));
    await mkdir(path.dirname(overlay));
    const size = 16 * MiB;
    const baseBytes = Buffer.alloc(size, 0xa5); // non-zero everywhere, so a skipped zero extent would show
    pattern(size / 2, 9).copy(baseBytes, size / 4);
    await createQcow2({ file: base, virtualSize: size });
    const baseExport = await exportOf(base, dir);
    await baseExport.client.write(0, baseBytes);
    await baseExport.close();

    await createQcow2Overlay({ file: overlay, backingFile: base });
    const extents: Extent[] = [
      { offset: CLUSTER * 3 + 1000, data: pattern(5000, 10) }, // inside one cluster, unaligned
      { offset: 100_000, zeroLength: 70_000 }, // partial clusters only
      { offset: CLUSTER * 20 - 4 * KiB, zeroLength: CLUSTER * 3 + 8 * KiB }, // three whole clusters plus edges
      { offset: 5 * MiB + 7, data: pattern(3 * CLUSTER, 11) }, // over the base's patterned bytes
    ];
    const expected = applyInMemory(baseBytes, extents);
    const nbd = await exportOf(overlay, dir);
    await writeExtents(nbd.client, extents);
    expect((await nbd.client.read(0, size)).equals(expected)).toBe(true);
    await nbd.close();

    const expectedRaw = path.join(dir, "expected.raw");
    await writeFile(expectedRaw, expected);
    expect(await qemuImgCompare(overlay, expectedRaw, { formatA: "qcow2", formatB: "raw" })).toBe(true);
    // The comparison can fail: one byte off is noticed.
    const offByOne = Buffer.from(expected);
    offByOne[CLUSTER * 3 + 1000] = (offByOne[CLUSTER * 3 + 1000] ?? 0) ^ 1;
    await writeFile(expectedRaw, offByOne);
    expect(await qemuImgCompare(overlay, expectedRaw, { formatA: "qcow2", formatB: "raw" })).toBe(false);

    await qemuImgCheck(overlay);
    const info = await qemuImgInfo(overlay);
    expect(info.backingFilename).toBe(path.join("..", "a", "base.qcow2"));
    expect(path.resolve(info.fullBackingFilename ?? "")).toBe(base); // qemu reports ".../b/../a/base.qcow2"
    expect(info.virtualSize).toBe(size);
    // Only the touched clusters (about six) plus qcow2 metadata, against a 16 MiB base.
    expect(info.actualSize).toBeLessThan(MiB);
    expect((await qemuImgInfo(base)).actualSize).toBeGreaterThan(size);
    // Whole clusters under a zero extent are zero clusters in the overlay, not copied data.
    const wholeZeroClusters = { start: CLUSTER * 20, end: CLUSTER * 23 };
    const covering = (await qemuImgMap(overlay)).filter((entry) => entry.start < wholeZeroClusters.end && entry.start + entry.length > wholeZeroClusters.start);
    expect(covering).toEqual([expect.objectContaining({ start: wholeZeroClusters.start, length: 3 * CLUSTER, depth: 0, zero: true, data: false })]);
  });

  it("splits a write larger than the server's request limit", async () => {
    const dir = await tempDir();
    const file = path.join(dir, "large.qcow2");
    const size = 64 * MiB;
    await createQcow2({ file, virtualSize: size });
    const nbd = await exportOf(file, dir);
    expect(nbd.client.maxRequestBytes).toBe(32 * MiB);
    const data = pattern(40 * MiB, 20);
    const offset = MiB + 512;
    await nbd.client.write(offset, data);
    expect((await nbd.client.read(offset, data.length)).equals(data)).toBe(true);
    await nbd.close();

    const expected = Buffer.alloc(size);
    data.copy(expected, offset);
    expect((await rawContents(dir, file)).equals(expected)).toBe(true);
    await qemuImgCheck(file);
  });

  it("zeroes a range larger than one WRITE_ZEROES request", async () => {
    const dir = await tempDir();
    const file = path.join(dir, "sparse.qcow2");
    const size = 3 * 1024 * MiB;
    await createQcow2({ file, virtualSize: size });
    const nbd = await exportOf(file, dir);
    await nbd.client.write(2 * 1024 * MiB, pattern(MiB, 30));
    await nbd.client.writeZeroes(0, size);
    expect((await nbd.client.read(2 * 1024 * MiB, MiB)).equals(Buffer.alloc(MiB))).toBe(true);
    await nbd.close();
    expect((await qemuImgInfo(file)).actualSize).toBeLessThan(4 * MiB);
  });
});

describe("failures", () => {
  it("rejects pending and later calls when the daemon is killed, and close reports it", async () => {
    const dir = await tempDir();
    const file = path.join(dir, "killed.qcow2");
    await createQcow2({ file, virtualSize: 64 * MiB });
    const nbd = await exportOf(file, dir);
    const pendingWrite = nbd.client.write(0, pattern(32 * MiB, 40));
    const pendingRead = nbd.client.read(48 * MiB, MiB);
    process.kill(nbd.pid, "SIGKILL");

    // A large write goes as 2 MiB requests: the error names the first one that failed.
    await expect(pendingWrite).rejects.toThrow(/^NBD WRITE at offset 0 length 2097152 did not complete: /);
    await expect(pendingRead).rejects.toThrow(/^NBD READ at offset 50331648 length 1048576 did not complete: /);
    await expect(nbd.client.writeZeroes(0, CLUSTER)).rejects.toThrow(/^NBD WRITE_ZEROES at offset 0 length 65536 did not complete: /);
    await expect(nbd.close()).rejects.toThrow(/qemu-storage-daemon .* was killed by SIGKILL unexpectedly while exporting/);
  });

  it("names the command and the daemon's message when the image cannot be opened", async () => {
    const dir = await tempDir();
    const socketPath = path.join(dir, "missing.sock");
    const opening = openNbdExport({ file: path.join(dir, "missing.qcow2"), socketPath });
    await expect(opening).rejects.toThrow(/^qemu-storage-daemon --blockdev .* exited with code 1 before the export was ready: .*missing\.qcow2.*No such file or directory/s);
    await expect(readFile(socketPath)).rejects.toThrow(/ENOENT/);
  });

  it("reports a refused export name with the server's reply", async () => {
    const dir = await tempDir();
    const file = path.join(dir, "named.qcow2");
    await createQcow2({ file, virtualSize: MiB });
    await exportOf(file, dir);
    await expect(NbdClient.connect(path.join(dir, "named.qcow2.sock"), { exportName: "other" })).rejects.toThrow(/NBD server refused export "other": NBD_REP_ERR_UNKNOWN/);
  });

  it("refuses a peer that is not an NBD server", async () => {
    const dir = await tempDir();
    const socketPath = path.join(dir, "http.sock");
    const server = net.createServer((socket) => socket.end("HTTP/1.1 400 Bad Request\r\n\r\n"));
    await new Promise<void>((resolve) => server.listen(socketPath, resolve));
    cleanups.push(() => new Promise((resolve) => server.close(resolve)));
    await expect(NbdClient.connect(socketPath)).rejects.toThrow(/Not an NBD server/);
  });

  it("refuses an extent past the end of the export before sending it", async () => {
    const dir = await tempDir();
    const file = path.join(dir, "small.qcow2");
    await createQcow2({ file, virtualSize: MiB });
    const nbd = await exportOf(file, dir);
    await expect(nbd.client.write(MiB - 10, Buffer.alloc(20))).rejects.toThrow(/^NBD WRITE at offset 1048566 length 20 is outside the export \(size 1048576\)/);
    await nbd.client.write(MiB - 10, Buffer.alloc(10, 1)); // the connection is still usable
    await nbd.close();
  });
});
