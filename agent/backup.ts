// One backup: read the disk block by block, compare each block's hash with the index of the
// agent's last image, and send what changed (or everything, for a full image) as extents.
// Zero blocks travel as zero extents, never as data. Everything goes in one extent stream while
// the disk is read a chunk ahead; a dropped connection resumes from the server's committed
// offset; the index is replaced only after the image is finalized.
import { open, type FileHandle } from "node:fs/promises";
import { backoffDelay } from "@/wire/backoff";
import type { ImageKind } from "@/wire/enums";
import type { TImageSummary } from "@/wire/agent";
import {
  HASH_BLOCK_BYTES,
  HASH_BYTES,
  encodeDataFrame,
  encodeMarkFrame,
  encodeZeroFrame,
  hashBlockCount,
  MAX_EXTENT_BYTES,
  sha256,
} from "@/wire/extent-stream";
import { blockCount, readBlockIndex, writeBlockIndex, type BlockIndex } from "./block-index";
import type { AgentConfig } from "./config";
import { prepareConsistentRead, type WhenMounted } from "./consistency";
import { deviceSize } from "./disk-device";
import { readMachineProfile } from "./machine-profile";
import { ServerError, type ServerClient } from "./server-client";

/** How much is read and hashed at a time: one extent at most. */
const CHUNK_BYTES = MAX_EXTENT_BYTES;
const ZERO_BLOCK = Buffer.alloc(HASH_BLOCK_BYTES);
const ZERO_BLOCK_HASH = sha256(ZERO_BLOCK);
const RESUME_ATTEMPTS = 8;

export type BackupMode = "auto" | "full" | "independent";

export interface BackupProgress {
  bytesRead: number;
  bytesSent: number;
  totalBytes: number;
}

export interface BackupSummary {
  imageId: string;
  kind: ImageKind;
  parentId: string | null;
  bytesRead: number;
  bytesSent: number;
  virtualSize: number;
  seconds: number;
}

interface Plan {
  kind: ImageKind;
  parentId?: string;
  previous: BlockIndex | null;
  /** Why a full image is taken although an incremental was asked for. */
  reason?: string;
}

async function planBackup(config: AgentConfig, client: ServerClient, mode: BackupMode, virtualSize: number): Promise<Plan> {
  if (mode === "independent") return { kind: "independent", previous: null };
  const state = await client.machineState(config.machineId);
  if (mode === "full" || !state.lastAgentImage) return { kind: state.lastAgentImage ? "independent" : "base", previous: null };
  const index = await readBlockIndex(config.stateDir, config.machineId);
  if (!index) return { kind: "independent", previous: null, reason: "there is no local block index of the last image" };
  if (index.imageId !== state.lastAgentImage.id) {
    return { kind: "independent", previous: null, reason: "the local block index is of another image than the server's last one" };
  }
  if (index.virtualSize !== virtualSize) return { kind: "independent", previous: null, reason: "the disk changed size" };
  return { kind: "incremental", parentId: index.imageId, previous: index };
}

/**
 * Reads the disk from `from`, a chunk ahead of what is being sent, into two buffers used in turn
 * (a fresh 4 MiB buffer per chunk kept the garbage collector busy for a quarter of an incremental).
 * A chunk's buffer is read into again two chunks later: the consumer must be done with it by then.
 */
async function* readChunks(disk: FileHandle, device: string, from: number, virtualSize: number): AsyncGenerator<{ offset: number; chunk: Buffer }> {
  const buffers = [Buffer.allocUnsafe(CHUNK_BYTES), Buffer.allocUnsafe(CHUNK_BYTES)];
  let turn = 0;
  const read = async (offset: number) => {
    const chunk = buffers[turn++ % 2]!.subarray(0, Math.min(CHUNK_BYTES, virtualSize - offset));
    const { bytesRead } = await disk.read(chunk, 0, chunk.length, offset);
    if (bytesRead !== chunk.length) throw new Error(`Short read from ${device} at ${offset}.`);
    return { offset, chunk };
  };
  let next = from < virtualSize ? read(from) : undefined;
  while (next) {
    const current = await next;
    const following = current.offset + current.chunk.length;
    next = following < virtualSize ? read(following) : undefined;
    // Marked handled now: if the consumer stops early, a failing read-ahead is not an unhandled rejection.
    next?.catch(() => undefined);
    yield current;
  }
}

/**
 * The extent stream of the disk from `from`: for each chunk, the runs of changed blocks (data, or
 * zeros) and then a mark saying the chunk is done. Records every block's hash in `hashes`.
 */
async function* extentFrames(options: {
  disk: FileHandle;
  device: string;
  from: number;
  virtualSize: number;
  previous: BlockIndex | null;
  hashes: Buffer;
  progress: BackupProgress;
  onProgress?: (progress: BackupProgress) => void;
}): AsyncGenerator<Buffer> {
  const { previous, hashes, progress } = options;
  for await (const { offset, chunk } of readChunks(options.disk, options.device, options.from, options.virtualSize)) {
    let run: { start: number; end: number; zero: boolean } | undefined;
    const endRun = function* (): Generator<Buffer> {
      if (!run) return;
      const { start, end, zero } = run;
      run = undefined;
      if (zero) return yield encodeZeroFrame(offset + start, end - start);
      const first = (offset + start) / HASH_BLOCK_BYTES;
      const blockHashes = hashes.subarray(first * HASH_BYTES, (first + hashBlockCount(end - start)) * HASH_BYTES);
      // A copy: the chunk's buffer is read into again while this may still wait in the socket.
      yield* encodeDataFrame(offset + start, Buffer.from(chunk.subarray(start, end)), blockHashes);
      progress.bytesSent += end - start;
    };
    for (let start = 0; start < chunk.length; start += HASH_BLOCK_BYTES) {
      const block = chunk.subarray(start, start + HASH_BLOCK_BYTES);
      const zero = block.equals(ZERO_BLOCK.subarray(0, block.length));
      const hash = zero && block.length === HASH_BLOCK_BYTES ? ZERO_BLOCK_HASH : sha256(block);
      const index = (offset + start) / HASH_BLOCK_BYTES;
      hash.copy(hashes, index * HASH_BYTES);
      const changed = !previous || !previous.hashes.subarray(index * HASH_BYTES, (index + 1) * HASH_BYTES).equals(hash);
      // A new qcow2 reads as zeros: a full image skips zero blocks. An incremental sends them as
      // zero extents, since a block that became zero has changed.
      const send = changed && !(zero && !previous);
      if (run && (!send || run.zero !== zero)) yield* endRun();
      if (!send) continue;
      run ??= { start, end: start, zero };
      run.end = start + block.length;
    }
    yield* endRun();
    yield encodeMarkFrame(offset + chunk.length);
    progress.bytesRead = offset + chunk.length;
    options.onProgress?.(progress);
  }
}

export async function runBackup(options: {
  config: AgentConfig;
  client: ServerClient;
  device: string;
  mode: BackupMode;
  log: (line: string) => void;
  onProgress?: (progress: BackupProgress) => void;
}): Promise<BackupSummary> {
  const { config, client, device, log } = options;
  const started = Date.now();
  const virtualSize = await deviceSize(device);
  const plan = await planBackup(config, client, options.mode, virtualSize);
  if (plan.reason) log(`Taking a full image: ${plan.reason}.`);
  const upload = await client.createUpload(config.machineId, {
    kind: plan.kind,
    parentImageId: plan.parentId,
    virtualSize,
    takenAt: new Date(),
    profile: await readMachineProfile(device),
  });

  const hashes = Buffer.alloc(blockCount(virtualSize) * HASH_BYTES);
  const progress: BackupProgress = { bytesRead: 0, bytesSent: 0, totalBytes: virtualSize };
  const disk = await open(device, "r");
  try {
    let from = 0;
    let failures = 0;
    for (;;) {
      try {
        const frames = extentFrames({ disk, device, from, virtualSize, previous: plan.previous, hashes, progress, onProgress: options.onProgress });
        const state = await client.sendExtents(config.machineId, upload.uploadId, frames);
        if (state.committedOffset >= virtualSize) break;
        throw new ServerError(`The server holds the upload up to ${state.committedOffset} of ${virtualSize} bytes only.`, 0);
      } catch (error) {
        if (!(error instanceof ServerError) || !error.retryable || ++failures > RESUME_ATTEMPTS) throw error;
        const delay = backoffDelay(failures, { baseMs: 2000, maxMs: 60_000 });
        log(`${error.message} Retrying in ${Math.round(delay / 1000)} s.`);
        await new Promise((resolve) => setTimeout(resolve, delay));
        // Resume from what the server holds durably; blocks after it are read and sent again.
        const state = await client.uploadState(config.machineId, upload.uploadId).catch(() => null);
        if (state) from = Math.floor(state.committedOffset / CHUNK_BYTES) * CHUNK_BYTES;
      }
    }
  } finally {
    await disk.close();
  }

  const image: TImageSummary = await client.finalizeUpload(config.machineId, upload.uploadId);
  await writeBlockIndex(config.stateDir, config.machineId, { imageId: image.id, virtualSize, blockSize: HASH_BLOCK_BYTES, hashes });
  return {
    imageId: image.id,
    kind: image.kind,
    parentId: image.parentId,
    bytesRead: progress.bytesRead,
    bytesSent: progress.bytesSent,
    virtualSize,
    seconds: (Date.now() - started) / 1000,
  };
}

/**
 * A backup of a disk that may be in use: made consistent first (agent/consistency.ts), which is
 * said in the log, and released (thawed, snapshot removed) however the backup ends — including
 * SIGINT or SIGTERM, after which the process exits.
 */
export async function takeBackup(options: Omit<Parameters<typeof runBackup>[0], "device"> & { device: string; whenMounted: WhenMounted }): Promise<BackupSummary> {
  const read = await prepareConsistentRead(options.device, options.whenMounted);
  options.log(read.how);
  const onSignal = (signal: NodeJS.Signals) => void read.release().finally(() => process.exit(signal === "SIGINT" ? 130 : 143));
  process.once("SIGINT", onSignal).once("SIGTERM", onSignal);
  try {
    return await runBackup({ ...options, device: read.device });
  } finally {
    process.off("SIGINT", onSignal).off("SIGTERM", onSignal);
    await read.release();
  }
}
