// `twinboot-agent restore`: writes a whole image (any point of any chain) to a disk, or to a disk
// image file, for a replacement computer. The server sends it as an extent stream; every data
// extent is checked against its sha256 before it is written, and the stream must end with the
// disk's end mark, or the restore is incomplete.
//
// A disk image file is written under a temporary name beside it and renamed only when complete
// and fsync'd: a crash or a kill leaves the old file (or none), never half an image. A block
// device cannot be replaced atomically: an interrupted restore says so, and running it again
// writes it whole. A device (or file) in use — mounted, swap, or attached to a loop device — is
// refused before anything is written.
import { constants } from "node:fs";
import { open, rename, rm, stat } from "node:fs/promises";
import path from "node:path";
import { Readable } from "node:stream";
import { decodeExtentFrames, MAX_EXTENT_BYTES, verifyDataFrame } from "@/wire/extent-stream";
import { fsyncDirectory } from "./apply/live-file";
import { runTool } from "./run-tool";
import type { ServerClient } from "./server-client";

export class RestoreError extends Error {}

export interface RestoreTarget {
  device: string;
  kind: "block-device" | "file";
  /** Bytes the target holds (a block device's size; a file grows as needed). */
  capacity: number | null;
  exists: boolean;
}

/** What the target is, refusing one that is in use. */
export async function inspectTarget(device: string): Promise<RestoreTarget> {
  const found = await stat(device).catch((error: NodeJS.ErrnoException) => {
    if (error.code === "ENOENT") return null;
    throw error;
  });
  if (!found) {
    await stat(path.dirname(path.resolve(device))).catch(() => {
      throw new RestoreError(`${device} does not exist, nor does its folder.`);
    });
    return { device, kind: "file", capacity: null, exists: false };
  }
  if (found.isBlockDevice()) {
    // The device and every partition on it, with where each is mounted ([SWAP] for swap).
    const { stdout } = await runTool("lsblk", ["--json", "--output", "PATH,MOUNTPOINTS", device]);
    const rows = (JSON.parse(stdout) as { blockdevices: { path: string; mountpoints: (string | null)[]; children?: unknown[] }[] }).blockdevices;
    const flatten = (list: typeof rows): typeof rows => list.flatMap((d) => [d, ...flatten((d.children ?? []) as typeof rows)]);
    const inUse = flatten(rows).filter((d) => d.mountpoints.some((m) => m));
    if (inUse.length > 0) {
      const where = inUse.map((d) => `${d.path} on ${d.mountpoints.filter(Boolean).join(", ")}`).join("; ");
      throw new RestoreError(`${device} is in use (${where}). Unmount it (or boot from something else) before restoring onto it.`);
    }
    const { stdout: bytes } = await runTool("blockdev", ["--getsize64", device]);
    return { device, kind: "block-device", capacity: Number(bytes.trim()), exists: true };
  }
  if (!found.isFile()) throw new RestoreError(`${device} is neither a disk nor a disk image file.`);
  const { stdout: loops } = await runTool("losetup", ["--associated", device]);
  if (loops.trim()) {
    throw new RestoreError(`${device} is attached to a loop device (${loops.trim().split(":")[0]}), so it may be mounted: detach it (losetup --detach) before restoring onto it.`);
  }
  return { device, kind: "file", capacity: null, exists: true };
}

export interface RestoreProgress {
  bytesDone: number;
  totalBytes: number;
}

export async function restoreImage(options: {
  client: ServerClient;
  machineId: string;
  imageId: string;
  target: RestoreTarget;
  onProgress?: (progress: RestoreProgress) => void;
}): Promise<{ bytes: number; written: number; seconds: number }> {
  const { client, target } = options;
  const started = Date.now();
  const { body, headers } = await client.stream("GET", `/machines/${options.machineId}/images/${options.imageId}/restore`);
  const size = Number(headers.get("x-disk-bytes"));
  if (!Number.isSafeInteger(size) || size <= 0) throw new RestoreError("The server did not say the disk's size; is it up to date?");
  if (target.capacity !== null && target.capacity < size) {
    await body.cancel();
    throw new RestoreError(`${target.device} holds ${target.capacity} bytes; the image is ${size}. Choose a disk at least that large.`);
  }

  const file = target.kind === "file" ? path.join(path.dirname(path.resolve(target.device)), `.${path.basename(target.device)}.twinboot-restore.tmp`) : target.device;
  // The temporary file is made afresh, never through a link someone left at its name, and is
  // readable by root only: it holds a whole computer's disk.
  if (target.kind === "file") await rm(file, { force: true });
  const handle = await open(file, target.kind === "file" ? constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW : "r+", 0o600);
  let complete = false;
  let written = 0;
  try {
    if (target.kind === "file") await handle.truncate(size); // sparse: zero ranges need no writing
    const zeros = Buffer.alloc(MAX_EXTENT_BYTES);
    for await (const frame of decodeExtentFrames(Readable.fromWeb(body as import("node:stream/web").ReadableStream<Uint8Array>), size)) {
      if (frame.type === "data") {
        try {
          verifyDataFrame(frame);
        } catch {
          throw new RestoreError(`The data at offset ${frame.offset} arrived corrupted (its sha256 does not match). Run the restore again.`);
        }
        await handle.write(frame.data, 0, frame.data.length, frame.offset);
        written += frame.data.length;
        options.onProgress?.({ bytesDone: frame.offset + frame.data.length, totalBytes: size });
      } else if (frame.type === "zero") {
        // A disk keeps what it had: its zero ranges are written too.
        for (let at = frame.offset; target.kind === "block-device" && at < frame.offset + frame.length; at += zeros.length) {
          const length = Math.min(zeros.length, frame.offset + frame.length - at);
          await handle.write(zeros, 0, length, at);
          written += length;
        }
        options.onProgress?.({ bytesDone: frame.offset + frame.length, totalBytes: size });
      } else if (frame.offset === size) {
        complete = true;
      }
    }
    if (!complete) throw new RestoreError("The image stream broke off before the end of the disk.");
    await handle.sync();
  } catch (error) {
    await handle.close();
    if (target.kind === "file") await rm(file, { force: true });
    const where = target.kind === "file" ? `${target.device} was not touched` : `${target.device} is only partly written`;
    const reason = error instanceof RestoreError ? error.message : `Reading the image failed (${error instanceof Error ? error.message : String(error)}).`;
    throw new RestoreError(`${reason} ${where}; run the restore again.`);
  }
  await handle.close();
  if (target.kind === "file") {
    await rename(file, target.device);
    await fsyncDirectory(path.dirname(path.resolve(target.device)));
  }
  return { bytes: size, written, seconds: (Date.now() - started) / 1000 };
}
