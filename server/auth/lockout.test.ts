import { describe, expect, it } from "vitest";
import { afterFailure, afterSuccess, isLocked, type LockState } from "./lockout";

const policy = { maxFailures: 5, lockoutMinutes: 15 };
const start = new Date("2026-01-01T12:00:00Z");
const minutes = (n: number) => new Date(start.getTime() + n * 60_000);
const fresh: LockState = { failedSignIns: 0, lockedUntil: null };

function fail(times: number, state = fresh, at = start): LockState {
  for (let i = 0; i < times; i++) state = afterFailure(state, at, policy);
  return state;
}

describe("account lockout", () => {
  it("does not lock before the limit", () => {
    const state = fail(4);
    expect(state.failedSignIns).toBe(4);
    expect(isLocked(state, start)).toBe(false);
  });

  it("locks for the configured time at the limit", () => {
    const state = fail(5);
    expect(isLocked(state, start)).toBe(true);
    expect(state.lockedUntil).toEqual(minutes(15));
    expect(isLocked(state, minutes(14.9))).toBe(true);
    expect(isLocked(state, minutes(15))).toBe(false);
  });

  it("does not extend the lock when failures continue during it", () => {
    const locked = fail(5);
    expect(afterFailure(locked, minutes(10), policy)).toEqual(locked);
  });

  it("starts a fresh count after the lock runs out", () => {
    const state = afterFailure(fail(5), minutes(16), policy);
    expect(state).toEqual({ failedSignIns: 1, lockedUntil: null });
  });

  it("resets the count on success", () => {
    expect(afterSuccess()).toEqual(fresh);
  });
});
