// The one way to back off between retries, for the agent, the server and the browser alike:
// the wait doubles from `baseMs` with each attempt, up to `maxMs`, less a random part when asked.

export interface Backoff {
  /** The wait before the first retry. */
  baseMs: number;
  /** No wait is longer than this. */
  maxMs: number;
  /** 0 to 1: up to this fraction of each wait is taken off at random, so clients spread out. */
  jitter?: number;
}

/** How long to wait before retry `attempt` (1, 2, …). */
export function backoffDelay(attempt: number, { baseMs, maxMs, jitter = 0 }: Backoff, random: () => number = Math.random): number {
  const delay = Math.min(baseMs * 2 ** Math.max(attempt - 1, 0), maxMs);
  return jitter > 0 ? Math.round(delay * (1 - jitter * random())) : delay;
}

export interface RetryOptions {
  /** Tries in all, the first included. */
  attempts: number;
  backoff: Backoff;
  /** Whether this failure is worth another try; every failure is, unless told. */
  shouldRetry?: (error: unknown) => boolean;
  /** Hears each failure that will be tried again, and the wait before it. */
  onRetry?: (error: unknown, delayMs: number, attempt: number) => void;
  /** Waits; a test may pass one that does not. */
  sleep?: (ms: number) => Promise<unknown>;
}

/** Runs `fn` until it succeeds, a failure is not worth retrying, or the attempts are spent. */
export async function retry<T>(fn: (attempt: number) => Promise<T>, { attempts, backoff, shouldRetry = () => true, onRetry, sleep = wait }: RetryOptions): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await fn(attempt);
    } catch (error) {
      if (attempt >= attempts || !shouldRetry(error)) throw error;
      const delay = backoffDelay(attempt, backoff);
      onRetry?.(error, delay, attempt);
      await sleep(delay);
    }
  }
}

function wait(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
