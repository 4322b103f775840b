// What a kind of job is: its payload's schema, the key that makes it one of a kind, its handler,
// and its limits — a deadline per attempt, a number of attempts, a concurrency per process
// (Dub's defineJob). `enqueue` records it in the caller's transaction, so the job exists exactly
// when the domain change that asked for it does.
import { sql } from "drizzle-orm";
import type { z } from "zod";
import { db, type Transaction } from "@/db/client";
import { jobs } from "@/db/schema";
import { openJobStates } from "@/wire/enums";

export const JOBS_CHANNEL = "twinboot_jobs";

export type Executor = Transaction | ReturnType<typeof db>;

export interface JobContext {
  jobId: string;
  /** 1 for the first attempt. */
  attempt: number;
  /** Aborted when this attempt is abandoned: its deadline passed, its claim was lost, or the process stops. */
  signal: AbortSignal;
  /**
   * A transaction that first checks (FOR UPDATE) that this attempt still holds its claim, and
   * throws ClaimLostError if not: every write a job makes goes through it, so a process that was
   * overtaken writes nothing.
   */
  transaction<T>(work: (tx: Transaction) => Promise<T>): Promise<T>;
}

export interface JobFailure {
  /** The last attempt's reason (for the log; the user's sentence is onFailure's to write). */
  reason: string;
  attempts: number;
  tx: Transaction;
}

export interface JobDefinition<P> {
  name: string;
  schema: z.ZodType<P>;
  /** One open job per kind and key: enqueueing the same key again while one is open does nothing. */
  key(payload: P): string;
  handle(payload: P, context: JobContext): Promise<void>;
  deadlineMs: number | ((payload: P) => number);
  attempts: number;
  /** Attempts of this kind one process runs at once. */
  concurrency: number;
  /** Runs libguestfs or qemu-img on the store: only processes with INSPECTION_WORKER take it. */
  appliance?: boolean;
  /** Claim the newest first (a user is looking at what they just made); oldest first otherwise. */
  newestFirst?: boolean;
  /** After the last attempt failed, in the transaction that records it: tell the domain's rows. */
  onFailure?(payload: P, failure: JobFailure): Promise<void>;
}

export interface JobKind<P> extends JobDefinition<P> {
  /** Records the job (in `executor`'s transaction, if one is given) and wakes the runners; its id. */
  enqueue(payload: P, options?: { executor?: Executor; runAfter?: Date }): Promise<string>;
}

/** Thrown by a handler for a failure another attempt cannot mend: the job fails at once. */
export class PermanentJobError extends Error {}

/** The attempt's claim was taken over (it ran too long without a heartbeat) or released. */
export class ClaimLostError extends Error {}

export function defineJob<P>(definition: JobDefinition<P>): JobKind<P> {
  return {
    ...definition,
    async enqueue(payload, { executor = db(), runAfter } = {}) {
      const parsed = definition.schema.parse(payload);
      const key = definition.key(parsed);
      // Either a new job, or the open one of this key; an open one can end between the two
      // statements, so try again then.
      for (let tries = 0; ; tries++) {
        const [created] = await executor
          .insert(jobs)
          .values({ kind: definition.name, key, payload: parsed, maxAttempts: definition.attempts, ...(runAfter ? { runAfter } : {}) })
          .onConflictDoNothing()
          .returning({ id: jobs.id });
        if (created) {
          await executor.execute(sql`select pg_notify(${JOBS_CHANNEL}, ${definition.name})`); // delivered on commit
          return created.id;
        }
        const [open] = await executor.execute<{ id: string }>(
          sql`select id from ${jobs} where kind = ${definition.name} and key = ${key} and state in (${sql.join(openJobStates.map((s) => sql`${s}`), sql`, `)})`,
        );
        if (open) return open.id;
        if (tries >= 3) throw new Error(`Could not queue job ${definition.name} ${key}: it kept ending while being queued.`);
      }
    },
  };
}
