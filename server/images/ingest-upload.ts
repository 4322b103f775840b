// Ingestion of an agent's backup: create → stream extents → finalize.
//
// The upload's qcow2 (standalone, or an overlay on the parent image) is exported over NBD by
// qemu-storage-daemon, and the agent's extent stream (wire/extent-stream.ts), each extent's
// hashes checked first, is written through it. At checkpoints the file is flushed and
// `committedOffset` advances: after a dropped connection or a server crash the agent resumes from
// there. Finalizing flushes, checks the file with qemu-img, seals it read-only under its image name
// (= the upload id) and only then records the image, so an image row always means a complete,
// checked, fsynced file. Uploads idle longer than
// UPLOAD_RESUME_MINUTES are abandoned: their record and files are removed.
import { randomBytes } from "node:crypto";
import { access, readdir, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { and, eq, lt } from "drizzle-orm";
import { db } from "@/db/client";
import { images, imageUploads, machines, type Image, type ImageUpload } from "@/db/schema";
import type { AgentMachine } from "@/wire/identity";
import { inspectImageJob } from "./inspection-job";
import { env } from "@/server/env";
import { ConflictError, ForbiddenError, NotFoundError } from "@/server/errors";
import type { TCreateUploadRequest, TUploadState } from "@/wire/agent";
import { decodeExtentFrames, verifyDataFrame } from "@/wire/extent-stream";
import { openNbdExport, type NbdExport } from "./nbd-export";
import { createQcow2, createQcow2Overlay, qemuImgCheck, qemuImgInfo } from "./qcow2";
import { ensureMachineDir, imageFileName, removeStoreFile, sealImageFile, storePath, uploadFileName } from "./store";

async function fileExists(file: string): Promise<boolean> {
  return access(file).then(
    () => true,
    () => false,
  );
}

const CHECKPOINT_BYTES = 256 * 1024 * 1024;
const CHECKPOINT_MS = 10_000;
/** NBD writes in flight per upload, so that receiving, hashing and writing overlap. */
const WRITE_WINDOW = 4;
/** An export with no request for this long is closed; the next extent reopens it. */
const EXPORT_IDLE_MS = 2 * 60_000;

interface OpenUpload {
  nbd: NbdExport;
  /** Everything before this offset is written (not necessarily flushed). */
  reached: number;
  idleTimer?: NodeJS.Timeout;
  /** Requests on one upload run one after another. */
  queue: Promise<unknown>;
}

const globalForUploads = globalThis as unknown as { twinbootOpenUploads?: Map<string, OpenUpload> };
const openUploads = (globalForUploads.twinbootOpenUploads ??= new Map());
/** Opening an export takes a while; concurrent requests for one upload share the same opening. */
const openingUploads = new Map<string, Promise<OpenUpload>>();

function uploadState(upload: ImageUpload): TUploadState {
  return { uploadId: upload.id, committedOffset: upload.committedOffset, bytesReceived: upload.bytesReceived };
}

export async function createUpload(agent: AgentMachine, request: TCreateUploadRequest): Promise<TUploadState> {
  let parent: Image | undefined;
  if (request.kind === "incremental") {
    [parent] = await db()
      .select()
      .from(images)
      .where(and(eq(images.id, request.parentImageId!), eq(images.machineId, agent.id)));
    if (!parent || parent.id !== agent.lastAgentImageId) {
      throw new ConflictError(
        "The parent image is not this agent's last image on the server. Take a full image (--full).",
      );
    }
    if (parent.virtualSize !== request.virtualSize) {
      throw new ConflictError(
        `The disk is now ${request.virtualSize} bytes, its last image ${parent.virtualSize}. Take a full image (--full).`,
      );
    }
  }
  await ensureMachineDir(agent.id);
  const [upload] = await db()
    .insert(imageUploads)
    .values({
      machineId: agent.id,
      parentId: parent?.id ?? null,
      kind: request.kind,
      file: "",
      virtualSize: request.virtualSize,
      profile: request.profile,
      takenAt: request.takenAt,
    })
    .returning();
  const file = uploadFileName(agent.id, upload!.id);
  if (parent) {
    await createQcow2Overlay({ file: storePath(file), backingFile: storePath(parent.file) });
  } else {
    await createQcow2({ file: storePath(file), virtualSize: request.virtualSize });
  }
  const [withFile] = await db().update(imageUploads).set({ file }).where(eq(imageUploads.id, upload!.id)).returning();
  return uploadState(withFile!);
}

async function uploadOfAgentOrThrow(agent: AgentMachine, uploadId: string): Promise<ImageUpload> {
  const [upload] = await db().select().from(imageUploads).where(eq(imageUploads.id, uploadId));
  if (!upload) throw new NotFoundError("No such upload: it was finished or abandoned. Start the backup again.");
  if (upload.machineId !== agent.id) throw new ForbiddenError("This upload belongs to another machine.");
  return upload;
}

export async function getUploadState(agent: AgentMachine, uploadId: string): Promise<TUploadState> {
  return uploadState(await uploadOfAgentOrThrow(agent, uploadId));
}

/** Runs `work` after every earlier request on the same upload has finished. */
function serialised<T>(uploadId: string, work: () => Promise<T>): Promise<T> {
  const open = openUploads.get(uploadId);
  if (!open) return work();
  const next = open.queue.then(work, work);
  open.queue = next.catch(() => undefined);
  return next;
}

/**
 * The export's daemon outlives a server that is killed, and keeps its lock on the file. The next
 * server finds it by its command line (the pid file beside the upload may not have been written
 * yet: the server can die while the daemon starts) and stops it (SIGTERM: it flushes and exits).
 */
async function stopLeftoverDaemon(file: string): Promise<void> {
  for (const entry of await readdir("/proc").catch(() => [] as string[])) {
    if (!/^\d+$/.test(entry)) continue;
    const cmdline = await readFile(`/proc/${entry}/cmdline`, "utf8").catch(() => "");
    if (!cmdline.startsWith("qemu-storage-daemon") || !cmdline.split("\0").some((arg) => arg.includes(`filename=${file}`))) continue;
    const pid = Number(entry);
    process.kill(pid, "SIGTERM");
    for (let i = 0; i < 100 && (await access(`/proc/${pid}`).then(() => true, () => false)); i++) {
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }
  await rm(`${file}.pid`, { force: true });
}

async function startExport(upload: ImageUpload): Promise<OpenUpload> {
  const file = storePath(upload.file);
  await stopLeftoverDaemon(file);
  const socketPath = path.join(tmpdir(), `twinboot-nbd-${randomBytes(6).toString("hex")}.sock`);
  const nbd = await openNbdExport({ file, socketPath });
  return { nbd, reached: upload.committedOffset, queue: Promise.resolve() };
}

async function openUpload(upload: ImageUpload): Promise<OpenUpload> {
  let open = openUploads.get(upload.id);
  if (!open) {
    let opening = openingUploads.get(upload.id);
    if (!opening) {
      opening = startExport(upload).finally(() => openingUploads.delete(upload.id));
      openingUploads.set(upload.id, opening);
    }
    open = await opening;
    openUploads.set(upload.id, open);
  }
  clearTimeout(open.idleTimer);
  open.idleTimer = setTimeout(() => void closeUpload(upload.id, { flush: true }), EXPORT_IDLE_MS);
  open.idleTimer.unref();
  return open;
}

async function closeUpload(uploadId: string, { flush }: { flush: boolean }): Promise<void> {
  const open = openUploads.get(uploadId);
  if (!open) return;
  openUploads.delete(uploadId);
  clearTimeout(open.idleTimer);
  if (flush) {
    await open.nbd.client.flush().catch(() => undefined);
    await db()
      .update(imageUploads)
      .set({ committedOffset: open.reached })
      .where(eq(imageUploads.id, uploadId))
      .catch(() => undefined);
  }
  await open.nbd.close().catch(() => undefined);
  const upload = await db().select({ file: imageUploads.file }).from(imageUploads).where(eq(imageUploads.id, uploadId));
  if (upload[0]?.file) await rm(`${storePath(upload[0].file)}.pid`, { force: true });
}

/** Flushes what is written and records how far the upload got: the point a resumed upload continues from. */
async function checkpoint(uploadId: string, open: OpenUpload, bytesReceived: number): Promise<ImageUpload> {
  await open.nbd.client.flush();
  const [updated] = await db()
    .update(imageUploads)
    .set({ committedOffset: open.reached, bytesReceived, lastActivityAt: new Date() })
    .where(eq(imageUploads.id, uploadId))
    .returning();
  return updated!;
}

/**
 * Writes an extent stream into the upload. Each data extent's hashes are checked before it is
 * written; writes are pipelined (WRITE_WINDOW in flight) while the next frames arrive. The upload
 * is checkpointed every CHECKPOINT_BYTES or CHECKPOINT_MS, and once more when the stream ends,
 * however it ends: a stream cut short (a dropped connection, a corrupted extent) keeps everything
 * before the failing frame, and the agent resumes from the committed offset.
 */
export async function receiveExtents(agent: AgentMachine, uploadId: string, body: AsyncIterable<Buffer>): Promise<TUploadState> {
  const upload = await uploadOfAgentOrThrow(agent, uploadId);
  await openUpload(upload);
  return serialised(uploadId, async () => {
    const open = await openUpload(upload);
    const current = await uploadOfAgentOrThrow(agent, uploadId);
    let bytesReceived = current.bytesReceived;
    let sinceCheckpoint = { bytes: 0, at: Date.now() };
    let writeFailure: unknown;
    const window: Promise<void>[] = [];
    // Settles every write in flight; `reached` may only move past frames whose write succeeded.
    const drain = async () => {
      await Promise.all(window.splice(0));
      if (writeFailure) throw writeFailure;
    };

    let pendingEnd = open.reached;
    let streamFailure: unknown;
    try {
      for await (const frame of decodeExtentFrames(body, upload.virtualSize)) {
        if (frame.type === "data") verifyDataFrame(frame);
        if (frame.type !== "mark") {
          const write =
            frame.type === "data" ? open.nbd.client.write(frame.offset, frame.data) : open.nbd.client.writeZeroes(frame.offset, frame.length);
          window.push(write.catch((error: unknown) => void (writeFailure ??= error)));
          if (window.length >= WRITE_WINDOW) await window.shift();
          if (writeFailure) throw writeFailure;
        }
        const frameEnd = frame.type === "data" ? frame.offset + frame.data.length : frame.type === "zero" ? frame.offset + frame.length : frame.offset;
        if (frame.type === "data") {
          bytesReceived += frame.data.length;
          sinceCheckpoint.bytes += frame.data.length;
        }
        if (sinceCheckpoint.bytes >= CHECKPOINT_BYTES || Date.now() - sinceCheckpoint.at >= CHECKPOINT_MS) {
          await drain();
          open.reached = frameEnd;
          await checkpoint(uploadId, open, bytesReceived);
          sinceCheckpoint = { bytes: 0, at: Date.now() };
        }
        // Without a checkpoint, `reached` moves once the writes before it have settled (below).
        pendingEnd = frameEnd;
      }
    } catch (error) {
      streamFailure = error;
    }
    await drain();
    open.reached = Math.max(open.reached, pendingEnd);
    const updated = await checkpoint(uploadId, open, bytesReceived);
    if (streamFailure) throw streamFailure;
    return uploadState(updated);
  });
}

/** Makes the upload an image: flushed, checked, sealed read-only, then recorded. */
export async function finalizeUpload(agent: AgentMachine, uploadId: string): Promise<Image> {
  const upload = await uploadOfAgentOrThrow(agent, uploadId);
  await openUpload(upload);
  return serialised(uploadId, async () => {
    await closeUpload(uploadId, { flush: true });
    const imageFile = imageFileName(agent.id, upload.id);
    // A crash after sealing but before recording leaves the sealed file only: finish from there.
    const alreadySealed = !(await fileExists(storePath(upload.file))) && (await fileExists(storePath(imageFile)));
    if (!alreadySealed) {
      await qemuImgCheck(storePath(upload.file));
      await sealImageFile(upload.file, imageFile);
    }
    const info = await qemuImgInfo(storePath(imageFile));
    return db().transaction(async (tx) => {
      const [image] = await tx
        .insert(images)
        .values({
          id: upload.id,
          machineId: agent.id,
          parentId: upload.parentId,
          kind: upload.kind,
          origin: "agent",
          file: imageFile,
          virtualSize: upload.virtualSize,
          bytesStored: info.actualSize,
          profile: upload.profile,
          takenAt: upload.takenAt,
        })
        .returning();
      await tx.update(machines).set({ lastAgentImageId: image!.id }).where(eq(machines.id, agent.id));
      await tx.delete(imageUploads).where(eq(imageUploads.id, upload.id));
      await inspectImageJob.enqueue({ imageId: image!.id }, { executor: tx });
      return image!;
    });
  });
}

/**
 * Removes uploads nobody has written to for UPLOAD_RESUME_MINUTES, with their files (including
 * an image file sealed just before a crash, which has no record). Run at start and periodically.
 */
export async function abandonStaleUploads(now = new Date()): Promise<number> {
  const cutoff = new Date(now.getTime() - env().UPLOAD_RESUME_MINUTES * 60_000);
  const stale = await db().select().from(imageUploads).where(lt(imageUploads.lastActivityAt, cutoff));
  for (const upload of stale) {
    await closeUpload(upload.id, { flush: false });
    if (upload.file) {
      await stopLeftoverDaemon(storePath(upload.file));
      await removeStoreFile(upload.file);
    }
    await removeStoreFile(imageFileName(upload.machineId, upload.id));
    await db().delete(imageUploads).where(eq(imageUploads.id, upload.id));
  }
  return stale.length;
}
