// The agent's local index of its last image: a sha256 per 64 KiB block of the disk as it was.
// An incremental backup sends the blocks whose hash changed. Stored as one JSON header line
// followed by the raw hashes, written atomically.
import { mkdir, open, readFile, rename } from "node:fs/promises";
import path from "node:path";
import { z } from "zod";
import { HASH_BLOCK_BYTES, HASH_BYTES } from "@/wire/extent-stream";

const ZIndexHeaderSchema = z.object({
  imageId: z.uuid(),
  virtualSize: z.number().int().positive(),
  blockSize: z.literal(HASH_BLOCK_BYTES),
});

export interface BlockIndex extends z.infer<typeof ZIndexHeaderSchema> {
  hashes: Buffer;
}

export function blockCount(virtualSize: number): number {
  return Math.ceil(virtualSize / HASH_BLOCK_BYTES);
}

function indexFile(stateDir: string, machineId: string): string {
  return path.join(stateDir, `${machineId}.blockindex`);
}

/** The index, or null when there is none or it is unreadable (the caller then takes a full image). */
export async function readBlockIndex(stateDir: string, machineId: string): Promise<BlockIndex | null> {
  let raw: Buffer;
  try {
    raw = await readFile(indexFile(stateDir, machineId));
  } catch {
    return null;
  }
  const newline = raw.indexOf(0x0a);
  const header = ZIndexHeaderSchema.safeParse(JSON.parse(raw.subarray(0, Math.max(newline, 0)).toString() || "null"));
  const hashes = raw.subarray(newline + 1);
  if (!header.success || hashes.length !== blockCount(header.data.virtualSize) * HASH_BYTES) return null;
  return { ...header.data, hashes };
}

export async function writeBlockIndex(stateDir: string, machineId: string, index: BlockIndex): Promise<void> {
  await mkdir(stateDir, { recursive: true, mode: 0o700 });
  const file = indexFile(stateDir, machineId);
  const temporary = `${file}.tmp-${process.pid}`;
  const handle = await open(temporary, "w", 0o600);
  try {
    const { hashes, ...header } = index;
    await handle.write(`${JSON.stringify(header)}\n`);
    await handle.write(hashes);
    await handle.sync();
  } finally {
    await handle.close();
  }
  await rename(temporary, file);
}
