import { describe, expect, it } from "vitest";
import { MalformedExtentStreamError, HASH_BLOCK_BYTES, MAX_EXTENT_BYTES, decodeExtentFrames, encodeDataFrame, encodeMarkFrame, encodeZeroFrame, sha256, verifyDataFrame, type ExtentFrame } from "./extent-stream";

function blockHashes(data: Buffer): Buffer {
  const hashes: Buffer[] = [];
  for (let start = 0; start < data.length; start += HASH_BLOCK_BYTES) hashes.push(sha256(data.subarray(start, start + HASH_BLOCK_BYTES)));
  return Buffer.concat(hashes);
}

/** Feeds the stream in awkward pieces, as a socket would. */
async function* pieces(stream: Buffer, size: number) {
  for (let start = 0; start < stream.length; start += size) yield stream.subarray(start, start + size);
}

async function decodeAll(stream: Buffer, diskBytes = 1 << 30, pieceSize = 1000): Promise<ExtentFrame[]> {
  const frames: ExtentFrame[] = [];
  for await (const frame of decodeExtentFrames(pieces(stream, pieceSize), diskBytes)) frames.push(frame);
  return frames;
}

describe("extent stream", () => {
  it("decodes what the agent encodes, including a partial last block", async () => {
    const data = Buffer.alloc(HASH_BLOCK_BYTES + 1000, 0).fill(5, 7);
    const stream = Buffer.concat([...encodeDataFrame(4096, data, blockHashes(data)), encodeZeroFrame(200_000, 65_536), encodeMarkFrame(1 << 20)]);
    const frames = await decodeAll(stream);
    expect(frames.map((f) => f.type)).toEqual(["data", "zero", "mark"]);
    const [first] = frames;
    expect(first).toMatchObject({ type: "data", offset: 4096 });
    if (first?.type !== "data") throw new Error("unreachable");
    expect(first.data.equals(data)).toBe(true);
    expect(() => verifyDataFrame(first)).not.toThrow();
    expect(frames[1]).toEqual({ type: "zero", offset: 200_000, length: 65_536 });
    expect(frames[2]).toEqual({ type: "mark", offset: 1 << 20 });
  });

  it("finds the damaged block of an extent", async () => {
    const data = Buffer.alloc(3 * HASH_BLOCK_BYTES, 1);
    const hashes = blockHashes(data);
    data[2 * HASH_BLOCK_BYTES + 10] = 2;
    const [frame] = await decodeAll(Buffer.concat(encodeDataFrame(0, data, hashes)));
    if (frame?.type !== "data") throw new Error("expected a data frame");
    expect(() => verifyDataFrame(frame)).toThrow(/extent at offset 0 does not match its sha256 at byte 131072/);
  });

  it.each([
    ["past the end of the disk", Buffer.concat([encodeZeroFrame(1000, 100)]), 1050, /ends past the disk \(1050 bytes\)/],
    ["out of order", Buffer.concat([encodeZeroFrame(1000, 100), encodeZeroFrame(500, 10)]), 1 << 20, /comes after one ending at 1100/],
    ["cut inside a header", encodeMarkFrame(0).subarray(0, 7), 1 << 20, /ends inside a frame header/],
    ["cut inside an extent", Buffer.concat(encodeDataFrame(0, Buffer.alloc(10), sha256(Buffer.alloc(10)))).subarray(0, 40), 1 << 20, /ends inside the extent at offset 0/],
    ["of an unknown type", Buffer.alloc(20, 0), 1 << 20, /Unknown frame type 0/],
  ])("refuses a frame %s with a clear error", async (_name, stream, diskBytes, message) => {
    const failure = decodeAll(stream, diskBytes);
    await expect(failure).rejects.toBeInstanceOf(MalformedExtentStreamError);
    await expect(failure).rejects.toThrow(message);
  });

  it("refuses an extent over the size limit", async () => {
    const header = encodeDataFrame(0, Buffer.alloc(1), Buffer.alloc(32))[0]!;
    header.writeBigUInt64BE(BigInt(MAX_EXTENT_BYTES + 1), 12);
    await expect(decodeAll(header)).rejects.toThrow(`an extent carries 1 to ${MAX_EXTENT_BYTES}`);
  });
});
