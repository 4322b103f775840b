// The account lockout rule: after `maxFailures` failed sign-ins in a row the account is
// locked for `lockoutMinutes`; a success resets the count. Pure, so it is unit-tested alone.

export interface LockoutPolicy {
  maxFailures: number;
  lockoutMinutes: number;
}

export interface LockState {
  failedSignIns: number;
  lockedUntil: Date | null;
}

export function isLocked(state: LockState, now: Date): boolean {
  return state.lockedUntil !== null && state.lockedUntil > now;
}

/** The state after one more failure. A failure while locked does not extend the lock. */
export function afterFailure(state: LockState, now: Date, policy: LockoutPolicy): LockState {
  if (isLocked(state, now)) return state;
  // A lock that has run out starts a fresh count.
  const previous = state.lockedUntil ? 0 : state.failedSignIns;
  const failedSignIns = previous + 1;
  if (failedSignIns >= policy.maxFailures) {
    return { failedSignIns: 0, lockedUntil: new Date(now.getTime() + policy.lockoutMinutes * 60_000) };
  }
  return { failedSignIns, lockedUntil: null };
}

export function afterSuccess(): LockState {
  return { failedSignIns: 0, lockedUntil: null };
}
