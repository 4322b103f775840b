// The job attempt the current code runs in, carried through async calls (AsyncLocalStorage), so
// that every tool started anywhere below a job — guestfish deep inside an inspection — is tagged
// with it and stopped with it, without passing a signal through every function on the way.
import { AsyncLocalStorage } from "node:async_hooks";

export interface WorkScope {
  /** Tags the attempt's child processes (child-processes.ts). */
  tag: string;
  /** Aborted when the attempt is abandoned: its deadline passed, its claim was lost, or the process stops. */
  signal: AbortSignal;
}

const scopes = new AsyncLocalStorage<WorkScope>();

export function runInWorkScope<T>(scope: WorkScope, work: () => Promise<T>): Promise<T> {
  return scopes.run(scope, work);
}

export function currentWorkScope(): WorkScope | undefined {
  return scopes.getStore();
}

/** Runs `work` in no job's scope: shared work (a probe whose answer every job uses) outlives any one attempt. */
export function outsideWorkScope<T>(work: () => Promise<T>): Promise<T> {
  return scopes.exit(work);
}
