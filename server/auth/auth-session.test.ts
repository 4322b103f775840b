import { describe, expect, it } from "vitest";
import { authSessionState } from "./auth-session";

const policy = { idleMinutes: 30, maxHours: 12 };
const signedIn = new Date("2026-01-01T08:00:00Z");
const at = (minutesAfter: number) => new Date(signedIn.getTime() + minutesAfter * 60_000);
const session = (lastSeenMinutes: number, revoked = false) => ({
  lastSeenAt: at(lastSeenMinutes),
  expiresAt: at(12 * 60),
  revokedAt: revoked ? at(1) : null,
});

describe("auth session expiry", () => {
  it("is active while used within the idle timeout", () => {
    expect(authSessionState(session(0), at(29), policy)).toBe("active");
    expect(authSessionState(session(600), at(620), policy)).toBe("active");
  });

  it("times out after the idle timeout without activity", () => {
    expect(authSessionState(session(0), at(31), policy)).toBe("idle");
  });

  it("ends at the absolute lifetime even when in constant use", () => {
    expect(authSessionState(session(719), at(719.5), policy)).toBe("active");
    expect(authSessionState(session(719), at(720), policy)).toBe("expired");
  });

  it("is over once revoked, whatever the times say", () => {
    expect(authSessionState(session(0, true), at(1), policy)).toBe("revoked");
  });
});
