// A minimal RFB (VNC) client over a WebSocket or a plain socket, for tests and benchmarks: the
// handshake (no authentication), raw pixels, and framebuffer update requests, reading each update
// in full. Not a viewer: it counts bytes and times round trips.
import type { Duplex } from "node:stream";
import type WebSocket from "ws";

const READ_TIMEOUT_MS = 30_000;
const CLOSE_TIMEOUT_MS = 10_000;

/** Bytes in, as one ordered stream, whatever carries them. */
class ByteReader {
  private chunks: Buffer[] = [];
  private length = 0;
  private waiting: { n: number; resolve: (b: Buffer) => void; reject: (e: Error) => void } | null = null;
  private failure: Error | null = null;

  push(chunk: Buffer) {
    this.chunks.push(chunk);
    this.length += chunk.length;
    this.settle();
  }

  fail(error: Error) {
    this.failure = error;
    this.waiting?.reject(error);
    this.waiting = null;
  }

  /** The next n bytes; fails if they have not all come within READ_TIMEOUT_MS (a stall, named). */
  read(n: number): Promise<Buffer> {
    if (this.failure) return Promise.reject(this.failure);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiting = null;
        reject(new Error(`no answer from the VNC server: ${this.length} of ${n} bytes came within ${READ_TIMEOUT_MS / 1000} s`));
      }, READ_TIMEOUT_MS);
      const settled = <T>(then: (value: T) => void) => (value: T) => {
        clearTimeout(timer);
        then(value);
      };
      this.waiting = { n, resolve: settled(resolve), reject: settled(reject) };
      this.settle();
    });
  }

  private settle() {
    if (!this.waiting || this.length < this.waiting.n) return;
    const all = this.chunks.length === 1 ? this.chunks[0]! : Buffer.concat(this.chunks);
    const { n, resolve } = this.waiting;
    this.waiting = null;
    this.chunks = all.length > n ? [all.subarray(n)] : [];
    this.length = all.length - n;
    resolve(all.subarray(0, n));
  }
}

export class RfbProbe {
  width = 0;
  height = 0;
  desktopName = "";
  private readonly reader = new ByteReader();

  private constructor(private readonly sendBytes: (b: Buffer) => void, private readonly closeTransport: () => Promise<void>) {}

  /**
   * Call it in the socket's open event itself, not after an await: ws emits the frames that came
   * with the upgrade answer on the next tick, before promise continuations, and they would be lost.
   */
  static overWebSocket(ws: WebSocket): RfbProbe {
    const closed = new Promise<void>((resolve) => ws.once("close", () => resolve()));
    const probe = new RfbProbe(
      (b) => ws.send(b, { binary: true }),
      () => {
        ws.close();
        // A peer that never answers the close is cut off rather than waited for.
        setTimeout(() => ws.terminate(), CLOSE_TIMEOUT_MS).unref();
        return closed;
      },
    );
    ws.on("message", (data: Buffer, isBinary: boolean) => isBinary && probe.reader.push(data));
    ws.on("close", () => probe.reader.fail(new Error("the WebSocket closed")));
    return probe;
  }

  static overSocket(socket: Duplex): RfbProbe {
    const closed = new Promise<void>((resolve) => socket.once("close", () => resolve()));
    const probe = new RfbProbe(
      (b) => socket.write(b),
      () => {
        socket.end();
        setTimeout(() => socket.destroy(), CLOSE_TIMEOUT_MS).unref();
        return closed;
      },
    );
    socket.on("data", (chunk: Buffer) => probe.reader.push(chunk));
    socket.on("close", () => probe.reader.fail(new Error("the socket closed")));
    return probe;
  }

  /** The server's greeting only ("RFB 003.008\n"). */
  async greeting(): Promise<string> {
    return (await this.reader.read(12)).toString("latin1");
  }

  /**
   * Version 3.8, security None, shared; then 32-bit pixels and raw encoding. Returns the round
   * trips of its three exchanges in milliseconds: small messages the server answers at once.
   */
  async handshake(): Promise<number[]> {
    const version = await this.greeting();
    if (!version.startsWith("RFB ")) throw new Error(`not an RFB server: ${JSON.stringify(version)}`);
    const roundTrips: number[] = [];
    let sent = performance.now();
    this.sendBytes(Buffer.from("RFB 003.008\n"));
    const count = (await this.reader.read(1))[0]!;
    roundTrips.push(performance.now() - sent);
    const types = await this.reader.read(count);
    if (!types.includes(1)) throw new Error(`the server wants authentication (types ${[...types].join(", ")})`);
    sent = performance.now();
    this.sendBytes(Buffer.from([1]));
    const result = (await this.reader.read(4)).readUInt32BE(0);
    roundTrips.push(performance.now() - sent);
    if (result !== 0) throw new Error("security handshake failed");
    sent = performance.now();
    this.sendBytes(Buffer.from([1])); // shared
    const init = await this.reader.read(24);
    roundTrips.push(performance.now() - sent);
    this.width = init.readUInt16BE(0);
    this.height = init.readUInt16BE(2);
    this.desktopName = (await this.reader.read(init.readUInt32BE(20))).toString("utf8");
    // 32 bpp, depth 24, little endian, true colour, 8 bits each, shifts 16/8/0.
    const pixelFormat = Buffer.from([0, 0, 0, 0, 32, 24, 0, 1, 0, 255, 0, 255, 0, 255, 16, 8, 0, 0, 0, 0]);
    this.sendBytes(pixelFormat);
    this.sendBytes(Buffer.from([2, 0, 0, 1, 0, 0, 0, 0])); // SetEncodings: raw only
    return roundTrips;
  }

  /** Asks for a region (non-incremental: answered at once) and reads the whole update; returns its size in bytes. */
  async update(x = 0, y = 0, width = this.width, height = this.height): Promise<number> {
    const request = Buffer.alloc(10);
    request.writeUInt8(3, 0);
    request.writeUInt8(0, 1);
    request.writeUInt16BE(x, 2);
    request.writeUInt16BE(y, 4);
    request.writeUInt16BE(width, 6);
    request.writeUInt16BE(height, 8);
    this.sendBytes(request);
    for (;;) {
      const type = (await this.reader.read(1))[0]!;
      if (type === 0) break; // FramebufferUpdate
      if (type === 2) continue; // Bell
      if (type === 3) {
        // ServerCutText
        const header = await this.reader.read(7);
        await this.reader.read(header.readUInt32BE(3));
        continue;
      }
      throw new Error(`unexpected server message ${type}`);
    }
    const rects = (await this.reader.read(3)).readUInt16BE(1);
    let bytes = 4;
    for (let i = 0; i < rects; i++) {
      const header = await this.reader.read(12);
      const [w, h, encoding] = [header.readUInt16BE(4), header.readUInt16BE(6), header.readInt32BE(8)];
      if (encoding !== 0) continue; // pseudo-encodings carry no pixels here
      await this.reader.read(w * h * 4);
      bytes += 12 + w * h * 4;
    }
    return bytes;
  }

  /** Closes the connection; resolves once it is closed. */
  close(): Promise<void> {
    return this.closeTransport();
  }
}
