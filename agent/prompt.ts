// The agent's small terminal helpers: a question to the person at the computer, and a wait that
// a signal cuts short.
import { createInterface } from "node:readline/promises";

/** Asks on the terminal; the answer trimmed. */
export async function ask(question: string, output: NodeJS.WritableStream = process.stdout): Promise<string> {
  const rl = createInterface({ input: process.stdin, output });
  try {
    return (await rl.question(question)).trim();
  } finally {
    rl.close();
  }
}

/** Resolves after `ms`, or early (false) when `signal` aborts. Long waits are cut into hours so a sleeping laptop wakes on time. */
export async function sleep(ms: number, signal: AbortSignal): Promise<boolean> {
  const until = Date.now() + ms;
  while (!signal.aborted && Date.now() < until) {
    await new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, Math.min(until - Date.now(), 3_600_000));
      signal.addEventListener("abort", () => (clearTimeout(timer), resolve()), { once: true });
    });
  }
  return !signal.aborted;
}
