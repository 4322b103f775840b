// Downloading an image — any point of a chain — as one standalone disk file.
//
// raw:   the chain read through a read-only NBD export and streamed as it is read; the size is
//        the disk's, known up front, and nothing is written on the server.
// qcow2: a base or independent image is already standalone: its own file is streamed.
// qcow2 of an incremental, vmdk (streamOptimized), vhdx: qemu-img converts the chain into a
//        temporary file under the store's .exports folder, which is then streamed with its size
//        and removed once the download ends (or fails). Leftovers from a crash are removed at start.
import { randomBytes } from "node:crypto";
import { createReadStream } from "node:fs";
import { mkdir, readdir, rm, stat } from "node:fs/promises";
import { hostname, tmpdir } from "node:os";
import path from "node:path";
import { Readable } from "node:stream";
import { and, eq } from "drizzle-orm";
import { db } from "@/db/client";
import { images, machines } from "@/db/schema";
import { NotFoundError } from "@/server/errors";
import { OWNER_TAG, ownerAlive } from "@/server/tools/child-processes";
import { runTool } from "@/server/tools/run-tool";
import { openNbdExport } from "./nbd-export";
import { storePath, storeRoot } from "./store";

export const EXPORT_FORMATS = ["qcow2", "raw", "vmdk", "vhdx"] as const;
export type ExportFormat = (typeof EXPORT_FORMATS)[number];

const CONVERT_ARGS: Record<Exclude<ExportFormat, "raw">, string[]> = {
  qcow2: ["-O", "qcow2", "-o", "compat=1.1"],
  // streamOptimized: compressed, one file, what VMware and VirtualBox import.
  vmdk: ["-O", "vmdk", "-o", "subformat=streamOptimized"],
  vhdx: ["-O", "vhdx"],
};
/** Converting a large disk takes a while; this only stops a hung qemu-img. */
const CONVERT_TIMEOUT_MS = 6 * 60 * 60_000;
const READ_BYTES = 2 * 1024 * 1024;

export interface ImageDownload {
  fileName: string;
  size: number;
  stream: Readable;
}

function exportsDir(): string {
  return path.join(storeRoot(), ".exports");
}

/** A conversion is named for the process making it: host, then its owner tag (namespace.pid.starttime). */
const exportPrefix = () => `${hostname()}.${OWNER_TAG}.`;
/** A conversion of another machine's server is left alone this long (its liveness cannot be seen from here). */
const FOREIGN_EXPORT_MAX_AGE_MS = 24 * 3600_000;

/**
 * Removes conversions left by a server that stopped mid-download: on this machine, those whose
 * process is gone; from other machines (a shared store), those older than a day. Other live
 * servers' downloads in progress are left alone.
 */
export async function removeLeftoverExports(): Promise<void> {
  const names = await readdir(exportsDir()).catch(() => [] as string[]);
  const local = `${hostname()}.`;
  await Promise.all(
    names.map(async (name) => {
      const file = path.join(exportsDir(), name);
      const owner = name.startsWith(local) ? name.slice(local.length).split(".").slice(0, 3).join(".") : null;
      const leftover = owner !== null
        ? !ownerAlive(owner)
        : Date.now() - (await stat(file).then((st) => st.mtimeMs, () => Date.now())) > FOREIGN_EXPORT_MAX_AGE_MS;
      if (leftover) await rm(file, { force: true });
    }),
  );
}

async function ownedImage(ownerId: string, imageId: string) {
  const [image] = await db()
    .select({ file: images.file, kind: images.kind, takenAt: images.takenAt, virtualSize: images.virtualSize, machineName: machines.name })
    .from(images)
    .innerJoin(machines, eq(machines.id, images.machineId))
    .where(and(eq(images.id, imageId), eq(machines.ownerId, ownerId)));
  if (!image) throw new NotFoundError("No such image. It may have been deleted.");
  return image;
}

function downloadName(machineName: string, takenAt: Date, format: ExportFormat): string {
  const safeName = machineName.replace(/[^\p{L}\p{N}._-]+/gu, "-").replace(/^-+|-+$/g, "") || "disk";
  const stamp = takenAt.toISOString().slice(0, 16).replace(/[:T]/g, "-");
  return `${safeName}-${stamp}.${format}`;
}

/**
 * Opens the whole chain as one disk, through a read-only NBD export: its size, and its blocks in
 * order as the consumer pulls them (the export closes when they end or the consumer stops).
 */
export async function readChain(file: string): Promise<{ size: number; blocks: AsyncGenerator<{ offset: number; data: Buffer }> }> {
  const socketPath = path.join(tmpdir(), `twinboot-export-${randomBytes(6).toString("hex")}.sock`);
  const nbd = await openNbdExport({ file, socketPath, readOnly: true });
  const size = nbd.client.size;
  async function* blocks() {
    try {
      for (let offset = 0; offset < size; offset += READ_BYTES) yield { offset, data: await nbd.client.read(offset, Math.min(READ_BYTES, size - offset)) };
    } finally {
      await nbd.close();
    }
  }
  return { size, blocks: blocks() };
}

async function rawStream(file: string): Promise<Readable> {
  const { blocks } = await readChain(file);
  return Readable.from((async function* () {
    for await (const block of blocks) yield block.data;
  })(), { objectMode: false });
}

export async function exportImage(options: { ownerId: string; imageId: string; format: ExportFormat; signal?: AbortSignal }): Promise<ImageDownload> {
  const image = await ownedImage(options.ownerId, options.imageId);
  const file = storePath(image.file);
  const fileName = downloadName(image.machineName, image.takenAt, options.format);

  if (options.format === "raw") return { fileName, size: image.virtualSize, stream: await rawStream(file) };
  if (options.format === "qcow2" && image.kind !== "incremental") {
    return { fileName, size: (await stat(file)).size, stream: createReadStream(file) };
  }

  await mkdir(exportsDir(), { recursive: true, mode: 0o700 });
  const converted = path.join(exportsDir(), `${exportPrefix()}${randomBytes(8).toString("hex")}.${options.format}`);
  try {
    await runTool("qemu-img", ["convert", "-f", "qcow2", ...CONVERT_ARGS[options.format], file, converted], {
      timeoutMs: CONVERT_TIMEOUT_MS,
      signal: options.signal,
    });
    const size = (await stat(converted)).size;
    const stream = createReadStream(converted);
    // The file is removed when the stream ends, is cancelled or fails.
    stream.once("close", () => void rm(converted, { force: true }));
    return { fileName, size, stream };
  } catch (error) {
    await rm(converted, { force: true });
    throw error;
  }
}
