// Telling the user's input apart from the viewer's housekeeping in what the browser sends to the
// VNC server (RFB, RFC 6143, client to server only). A viewer asks for screen updates all the
// time; only key, pointer and clipboard messages mean a person is there, and only those reset
// the session's idle timeout. The stream is read message by message, across frame boundaries;
// anything it does not understand is counted as input from then on (a VM is kept, never ended,
// by a parser's doubt).

/** Client messages of fixed length, by type; variable ones are sized in `messageLength`. */
const FIXED_LENGTHS: Record<number, number> = {
  0: 20, // SetPixelFormat
  3: 10, // FramebufferUpdateRequest
  4: 8, // KeyEvent
  5: 6, // PointerEvent
  150: 10, // EnableContinuousUpdates
  250: 4, // xvp (power actions)
};
const INPUT_TYPES = new Set([4, 5, 6, 250, 255]);

type Phase = "version" | "security" | "vnc-auth" | "client-init" | "messages" | "opaque";

export class RfbInputDetector {
  private phase: Phase = "version";
  private pending: Buffer = Buffer.alloc(0);

  /** Feeds bytes the browser sent; returns whether they held user input. */
  feed(chunk: Buffer): boolean {
    if (this.phase === "opaque") return true;
    this.pending = this.pending.length === 0 ? chunk : Buffer.concat([this.pending, chunk]);
    let input = false;
    for (;;) {
      const needed = this.nextLength();
      if (needed === null) {
        this.phase = "opaque";
        this.pending = Buffer.alloc(0);
        return true;
      }
      if (needed === 0 || this.pending.length < needed) return input;
      input = this.consume(needed) || input;
    }
  }

  /** Bytes the next item takes; 0 when more bytes are needed to tell; null when unknown. */
  private nextLength(): number | null {
    const p = this.pending;
    switch (this.phase) {
      case "version":
        return 12;
      case "security":
        return 1;
      case "vnc-auth":
        return 16;
      case "client-init":
        return 1;
      case "opaque":
        return null;
      case "messages":
        break;
    }
    if (p.length < 1) return 0;
    const type = p[0]!;
    if (FIXED_LENGTHS[type] !== undefined) return FIXED_LENGTHS[type];
    switch (type) {
      case 2: // SetEncodings: u8 type, pad, u16 count, s32 × count
        return p.length < 4 ? 0 : 4 + 4 * p.readUInt16BE(2);
      case 6: // ClientCutText: u8 type, 3 pad, s32 length (negative: extended clipboard), text
        return p.length < 8 ? 0 : 8 + Math.abs(p.readInt32BE(4));
      case 248: // ClientFence: u8 type, 3 pad, u32 flags, u8 length, payload
        return p.length < 9 ? 0 : 9 + p[8]!;
      case 251: // SetDesktopSize: u8 type, pad, u16 w, u16 h, u8 screens, pad, 16 × screens
        return p.length < 8 ? 0 : 8 + 16 * p[6]!;
      case 255: // QEMU: extended key event (subtype 0), audio (subtype 1)
        if (p.length < 2) return 0;
        if (p[1] === 0) return 12;
        if (p[1] === 1) return p.length < 4 ? 0 : p.readUInt16BE(2) === 2 ? 10 : 4;
        return null;
      default:
        return null;
    }
  }

  private consume(length: number): boolean {
    const item = this.pending.subarray(0, length);
    this.pending = this.pending.subarray(length);
    switch (this.phase) {
      case "version":
        // RFB 3.3 has the server choose the security type: no byte from the client.
        this.phase = item.toString("latin1") === "RFB 003.003\n" ? "client-init" : "security";
        return false;
      case "security":
        if (item[0] === 1) this.phase = "client-init";
        else if (item[0] === 2) this.phase = "vnc-auth";
        else this.phase = "opaque";
        return false;
      case "vnc-auth":
        this.phase = "client-init";
        return false;
      case "client-init":
        this.phase = "messages";
        return false;
      default:
        return INPUT_TYPES.has(item[0]!);
    }
  }
}
