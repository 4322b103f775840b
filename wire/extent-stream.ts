// The body of one extent stream: what an agent sends into an upload, as frames in increasing order
// of offset, in one long request, so that no extent waits for the answer to the one before.
//
//   header (20 bytes, big-endian): type u32, offset u64, length u64
//   data: + one sha256 per HASH_BLOCK_BYTES block of the data, then the data (at most MAX_EXTENT_BYTES)
//   zero: nothing more; the range must read as zeros
//   mark: nothing more, length 0; the agent has read (and sent what changed) up to `offset`
//
// Shared by the agent (encoding) and the server (decoding, with every field checked).
import { createHash } from "node:crypto";
import { ByteQueue } from "./byte-queue";

/** A frame that breaks the format; the server answers it as bad input (server/errors.ts). */
export class MalformedExtentStreamError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "MalformedExtentStreamError";
  }
}

export const EXTENT_STREAM_CONTENT_TYPE = "application/vnd.twinboot.extents";
/** The qcow2 cluster size, and the unit of the agent's change detection. */
export const HASH_BLOCK_BYTES = 64 * 1024;
export const HASH_BYTES = 32;
export const MAX_EXTENT_BYTES = 4 * 1024 * 1024;
const HEADER_BYTES = 20;

const FRAME_TYPE = { data: 1, zero: 2, mark: 3 } as const;

export type ExtentFrame =
  | { type: "data"; offset: number; data: Buffer; blockHashes: Buffer }
  | { type: "zero"; offset: number; length: number }
  | { type: "mark"; offset: number };

export function sha256(data: Buffer): Buffer {
  return createHash("sha256").update(data).digest();
}

function header(type: number, offset: number, length: number): Buffer {
  const out = Buffer.allocUnsafe(HEADER_BYTES);
  out.writeUInt32BE(type, 0);
  out.writeBigUInt64BE(BigInt(offset), 4);
  out.writeBigUInt64BE(BigInt(length), 12);
  return out;
}

export function hashBlockCount(length: number): number {
  return Math.ceil(length / HASH_BLOCK_BYTES);
}

/** A data frame as two buffers (header with hashes, then the data itself, not copied). */
export function encodeDataFrame(offset: number, data: Buffer, blockHashes: Buffer): Buffer[] {
  return [Buffer.concat([header(FRAME_TYPE.data, offset, data.length), blockHashes]), data];
}

export function encodeZeroFrame(offset: number, length: number): Buffer {
  return header(FRAME_TYPE.zero, offset, length);
}

export function encodeMarkFrame(offset: number): Buffer {
  return header(FRAME_TYPE.mark, offset, 0);
}

/** Throws unless every block of a data frame matches its hash. */
export function verifyDataFrame(frame: Extract<ExtentFrame, { type: "data" }>): void {
  for (let block = 0; block * HASH_BLOCK_BYTES < frame.data.length; block++) {
    const start = block * HASH_BLOCK_BYTES;
    const expected = frame.blockHashes.subarray(block * HASH_BYTES, (block + 1) * HASH_BYTES);
    if (!sha256(frame.data.subarray(start, start + HASH_BLOCK_BYTES)).equals(expected)) {
      throw new MalformedExtentStreamError(
        `The extent at offset ${frame.offset} does not match its sha256 at byte ${frame.offset + start} (corrupted on the way). Run the backup again; it resumes.`,
      );
    }
  }
}

/**
 * Parses a stream body into frames, checking each one's shape against the disk's size and the
 * order rule. Hashes are checked by the consumer (verifyDataFrame), which decides when.
 */
export async function* decodeExtentFrames(body: AsyncIterable<Buffer>, diskBytes: number): AsyncGenerator<ExtentFrame> {
  const queue = new ByteQueue();
  const source = body[Symbol.asyncIterator]();
  let ended = false;
  const fill = async (count: number): Promise<boolean> => {
    while (queue.length < count && !ended) {
      const next = await source.next();
      if (next.done) ended = true;
      else queue.push(next.value);
    }
    return queue.length >= count;
  };

  let end = 0;
  while (await fill(1)) {
    if (!(await fill(HEADER_BYTES))) throw new MalformedExtentStreamError("The extent stream ends inside a frame header.");
    const head = queue.take(HEADER_BYTES);
    const type = head.readUInt32BE(0);
    const offset = Number(head.readBigUInt64BE(4));
    const length = Number(head.readBigUInt64BE(12));
    if (offset < end) throw new MalformedExtentStreamError(`The extent at offset ${offset} comes after one ending at ${end}; extents go in increasing order.`);
    if (offset + length > diskBytes) {
      throw new MalformedExtentStreamError(`The extent at offset ${offset} (+${length} bytes) ends past the disk (${diskBytes} bytes).`);
    }
    if (type === FRAME_TYPE.mark) {
      if (length !== 0) throw new MalformedExtentStreamError(`A mark frame at ${offset} has a length (${length}); it must be 0.`);
      end = offset;
      yield { type: "mark", offset };
    } else if (type === FRAME_TYPE.zero) {
      if (length === 0) throw new MalformedExtentStreamError(`The zero extent at offset ${offset} is empty.`);
      end = offset + length;
      yield { type: "zero", offset, length };
    } else if (type === FRAME_TYPE.data) {
      if (length === 0 || length > MAX_EXTENT_BYTES) {
        throw new MalformedExtentStreamError(`The extent at offset ${offset} carries ${length} bytes; an extent carries 1 to ${MAX_EXTENT_BYTES}.`);
      }
      const hashBytes = hashBlockCount(length) * HASH_BYTES;
      if (!(await fill(hashBytes + length))) throw new MalformedExtentStreamError(`The extent stream ends inside the extent at offset ${offset}.`);
      const blockHashes = queue.take(hashBytes);
      const data = queue.take(length);
      end = offset + length;
      yield { type: "data", offset, data, blockHashes };
    } else {
      throw new MalformedExtentStreamError(`Unknown frame type ${type} at offset ${offset} in the extent stream.`);
    }
  }
}
