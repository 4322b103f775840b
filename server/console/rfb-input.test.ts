import { describe, expect, it } from "vitest";
import { RfbInputDetector } from "./rfb-input";

const handshake = Buffer.concat([Buffer.from("RFB 003.008\n"), Buffer.from([1]), Buffer.from([1])]);
const updateRequest = Buffer.from([3, 1, 0, 0, 0, 0, 2, 208, 1, 144]);
const setEncodings = Buffer.from([2, 0, 0, 2, 0, 0, 0, 7, 255, 255, 255, 33]);
const key = Buffer.from([4, 1, 0, 0, 0, 0, 0, 0x61]);
const pointer = Buffer.from([5, 0, 0, 10, 0, 20]);
const cutText = Buffer.concat([Buffer.from([6, 0, 0, 0, 0, 0, 0, 5]), Buffer.from("hello")]);

describe("the RFB input detector", () => {
  it("does not count the handshake and screen update requests as input", () => {
    const detector = new RfbInputDetector();
    expect(detector.feed(handshake)).toBe(false);
    expect(detector.feed(Buffer.concat([setEncodings, updateRequest, updateRequest]))).toBe(false);
  });

  it("counts keys, pointer moves and clipboard text, even split across frames", () => {
    const detector = new RfbInputDetector();
    detector.feed(handshake);
    expect(detector.feed(Buffer.concat([updateRequest, key]))).toBe(true);
    expect(detector.feed(pointer.subarray(0, 3))).toBe(false);
    expect(detector.feed(pointer.subarray(3))).toBe(true);
    expect(detector.feed(cutText.subarray(0, 6))).toBe(false);
    expect(detector.feed(cutText.subarray(6))).toBe(true);
    expect(detector.feed(updateRequest)).toBe(false);
  });

  it("follows VNC authentication and RFB 3.3", () => {
    const withAuth = new RfbInputDetector();
    expect(withAuth.feed(Buffer.concat([Buffer.from("RFB 003.008\n"), Buffer.from([2]), Buffer.alloc(16, 7), Buffer.from([1]), updateRequest]))).toBe(false);
    expect(withAuth.feed(key)).toBe(true);
    const old = new RfbInputDetector();
    expect(old.feed(Buffer.concat([Buffer.from("RFB 003.003\n"), Buffer.from([1]), updateRequest]))).toBe(false);
    expect(old.feed(pointer)).toBe(true);
  });

  it("counts everything as input once it meets a message it does not know", () => {
    const detector = new RfbInputDetector();
    detector.feed(handshake);
    expect(detector.feed(Buffer.from([99, 0, 0]))).toBe(true);
    expect(detector.feed(updateRequest)).toBe(true);
  });
});
