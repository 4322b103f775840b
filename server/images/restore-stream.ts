// A whole image (any point of any chain) for `twinboot-agent restore`, as an extent stream (the
// format uploads use, wire/extent-stream.ts): data frames with a sha256 per 64 KiB block,
// so the agent checks every byte as it writes it; zero frames for all-zero ranges, which a sparse
// target need not write; and a mark at the disk's end, without which the agent knows the stream
// was cut short. An agent may restore any image of its owner's machines: a replacement computer
// is enrolled as a machine of its own.
import { Readable } from "node:stream";
import { and, eq } from "drizzle-orm";
import { db } from "@/db/client";
import { images, machines } from "@/db/schema";
import type { AgentMachine } from "@/wire/identity";
import { NotFoundError } from "@/server/errors";
import { encodeDataFrame, encodeMarkFrame, encodeZeroFrame, HASH_BLOCK_BYTES, sha256 } from "@/wire/extent-stream";
import { readChain } from "./export-image";
import { storePath } from "./store";

function blockHashes(data: Buffer): Buffer {
  const hashes: Buffer[] = [];
  for (let start = 0; start < data.length; start += HASH_BLOCK_BYTES) hashes.push(sha256(data.subarray(start, start + HASH_BLOCK_BYTES)));
  return Buffer.concat(hashes);
}

function allZero(data: Buffer): boolean {
  // Compare against a zero buffer of the same length, eight bytes at a time in native code.
  return data.equals(Buffer.alloc(data.length));
}

export async function restoreStream(agent: AgentMachine, imageId: string): Promise<{ size: number; stream: Readable }> {
  const [image] = await db()
    .select({ file: images.file })
    .from(images)
    .innerJoin(machines, eq(machines.id, images.machineId))
    .where(and(eq(images.id, imageId), eq(machines.ownerId, agent.ownerId)));
  if (!image) throw new NotFoundError("No such image among your machines' images. Check the id on the machine's timeline.");
  const { size, blocks } = await readChain(storePath(image.file));
  async function* frames() {
    let zeroStart: number | null = null;
    for await (const { offset, data } of blocks) {
      if (allZero(data)) {
        zeroStart ??= offset;
        continue;
      }
      if (zeroStart !== null) yield encodeZeroFrame(zeroStart, offset - zeroStart);
      zeroStart = null;
      yield* encodeDataFrame(offset, data, blockHashes(data));
    }
    if (zeroStart !== null) yield encodeZeroFrame(zeroStart, size - zeroStart);
    yield encodeMarkFrame(size);
  }
  return { size, stream: Readable.from(frames(), { objectMode: false }) };
}
