// One backup: read the disk block by block, compare each block's hash with the index of the
// agent's last image, and send what changed (or everything, for a full image) as extents.
// Zero blocks travel as zero extents, never as data. A dropped connection resumes from the
// server's committed offset; the index is replaced only after the image is finalized.
import { open } from "node:fs/promises";
import type { ImageKind } from "@/db/schema-enums";
import type { TImageSummary } from "@/server/wire/agent";
import { BLOCK_SIZE, HASH_BYTES, blockCount, hashBlock, readBlockIndex, writeBlockIndex, type BlockIndex } from "./block-index";
import type { AgentConfig } from "./config";
import { deviceSize } from "./disk-device";
import { readMachineProfile } from "./machine-profile";
import { ServerError, type ServerClient } from "./server-client";

/** How much is read, hashed and sent at a time: one extent at most. */
const CHUNK_BYTES = 4 * 1024 * 1024;
const ZERO_BLOCK_HASH = hashBlock(Buffer.alloc(BLOCK_SIZE));
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

interface Extent {
  offset: number;
  length: number;
  zero: boolean;
}

/** The extents of one chunk that must be sent, from its blocks' old and new hashes. */
function changedExtents(chunkOffset: number, chunk: Buffer, newHashes: Buffer[], previous: BlockIndex | null): Extent[] {
  const extents: Extent[] = [];
  newHashes.forEach((hash, i) => {
    const block = chunkOffset / BLOCK_SIZE + i;
    const changed = !previous || !previous.hashes.subarray(block * HASH_BYTES, (block + 1) * HASH_BYTES).equals(hash);
    const zero = hash.equals(ZERO_BLOCK_HASH);
    // A new qcow2 reads as zeros: a full image skips zero blocks. An incremental sends them as
    // zero extents, since a block that became zero has changed.
    if (!changed || (zero && !previous)) return;
    const offset = chunkOffset + i * BLOCK_SIZE;
    const length = Math.min(BLOCK_SIZE, chunk.length - i * BLOCK_SIZE);
    const last = extents.at(-1);
    if (last && last.zero === zero && last.offset + last.length === offset) last.length += length;
    else extents.push({ offset, length, zero });
  });
  return extents;
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
    let offset = 0;
    let failures = 0;
    while (offset < virtualSize) {
      try {
        const length = Math.min(CHUNK_BYTES, virtualSize - offset);
        const chunk = Buffer.alloc(length);
        const { bytesRead } = await disk.read(chunk, 0, length, offset);
        if (bytesRead !== length) throw new Error(`Short read from ${device} at ${offset}.`);
        progress.bytesRead = offset + length;
        const blockHashes: Buffer[] = [];
        for (let i = 0; i * BLOCK_SIZE < length; i++) {
          const hash = hashBlock(chunk.subarray(i * BLOCK_SIZE, (i + 1) * BLOCK_SIZE));
          hash.copy(hashes, (offset / BLOCK_SIZE + i) * HASH_BYTES);
          blockHashes.push(hash);
        }
        for (const extent of changedExtents(offset, chunk, blockHashes, plan.previous)) {
          const data = extent.zero ? undefined : chunk.subarray(extent.offset - offset, extent.offset - offset + extent.length);
          await client.putExtent(config.machineId, upload.uploadId, { ...extent, sha256: data && hashBlock(data).toString("hex") }, data);
          if (data) progress.bytesSent += data.length;
        }
        options.onProgress?.(progress);
        offset += length;
        failures = 0;
      } catch (error) {
        if (!(error instanceof ServerError) || !error.retryable || ++failures > RESUME_ATTEMPTS) throw error;
        const delay = Math.min(1000 * 2 ** failures, 60_000);
        log(`${error.message} Retrying in ${Math.round(delay / 1000)} s.`);
        await new Promise((resolve) => setTimeout(resolve, delay));
        // Resume from what the server holds durably; blocks after it are read and sent again.
        const state = await client.uploadState(config.machineId, upload.uploadId).catch(() => null);
        if (state) offset = Math.floor(Math.min(state.committedOffset, offset) / CHUNK_BYTES) * CHUNK_BYTES;
      }
    }
  } finally {
    await disk.close();
  }

  const image: TImageSummary = await client.finalizeUpload(config.machineId, upload.uploadId);
  await writeBlockIndex(config.stateDir, config.machineId, { imageId: image.id, virtualSize, blockSize: BLOCK_SIZE, hashes });
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
