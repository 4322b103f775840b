// Running jobs: claiming, heartbeats, deadlines, retries. See ARCHITECTURE.md for a job's life.
//
//   claim     one UPDATE … WHERE id = (SELECT … FOR UPDATE SKIP LOCKED): a queued job whose time
//             has come, or a running one whose heartbeat is older than JOB_STALE_SECONDS (its
//             process died: it is taken over, and that attempt is recorded as failed);
//   run       the handler, inside a work scope (server/tools/work-scope.ts) that tags every child
//             process; a heartbeat every quarter of JOB_STALE_SECONDS, conditional on the claim;
//   deadline  the attempt is abandoned, its processes killed (wherever they went), its failure
//             recorded; writes it still tries fail their claim check;
//   end       done; or queued again after a backoff while attempts remain; or failed, when the
//             definition's onFailure tells the domain's rows in the same transaction.
// A process stopping (SIGTERM) releases its claims without counting the attempt.
import { readFileSync } from "node:fs";
import { hostname } from "node:os";
import { and, eq, sql } from "drizzle-orm";
import { db, sqlClient, type Transaction } from "@/db/client";
import { jobs, type Job } from "@/db/schema";
import { env } from "@/server/env";
import { killWork, OWNER_TAG, ownerAlive } from "@/server/tools/child-processes";
import { runInWorkScope } from "@/server/tools/work-scope";
import { backoffDelay } from "@/wire/backoff";
import { ClaimLostError, JOBS_CHANNEL, PermanentJobError, type JobContext, type JobKind } from "./define-job";

const POLL_MS = 2_000;
/**
 * How long an abandoned handler is waited for (heartbeats going on) before its failure is
 * recorded: longer than a command on a host may run (ssh-connection's 120 s), so that a retry
 * never overlaps it. A process stopping waits only briefly: its job goes back to the queue.
 */
const ABANDON_GRACE_MS = 150_000;
const STOP_GRACE_MS = 3_000;
const RETRY_BACKOFF = { baseMs: 5_000, maxMs: 5 * 60_000, jitter: 0.2 };
const MAX_REASON_CHARS = 2_000;

/** This boot of this machine: a claimant of an earlier boot, or of another machine, is judged by its heartbeat only. */
function bootId(): string {
  try {
    return readFileSync("/proc/sys/kernel/random/boot_id", "utf8").trim();
  } catch {
    return "unknown-boot";
  }
}
const LOCAL_PREFIX = `${hostname()}:${bootId()}:`;
/** Who holds a claim: this machine, this boot, and this process (its namespace, pid and start time). */
export const JOB_CLAIMANT = `${LOCAL_PREFIX}${OWNER_TAG}`;
const PROCESS_LABEL = JOB_CLAIMANT;

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- a registry holds every payload type
type AnyJobKind = JobKind<any>;

class DeadlineError extends Error {}
class StoppingError extends Error {}

function staleSeconds(): number {
  return env().JOB_STALE_SECONDS;
}

function reasonOf(error: unknown): string {
  return (error instanceof Error ? error.message : String(error)).slice(0, MAX_REASON_CHARS);
}

function describeMs(ms: number): string {
  return ms >= 60_000 ? `${Math.round(ms / 60_000)} min` : `${Math.round(ms / 1000)} s`;
}

/**
 * The claimants on this machine whose process is gone (a server killed and restarted): their
 * jobs are taken over at once, without waiting for their heartbeats to go stale.
 */
async function deadLocalClaimants(): Promise<string[]> {
  const claimants = await db()
    .selectDistinct({ claimedBy: jobs.claimedBy })
    .from(jobs)
    .where(and(eq(jobs.state, "running"), sql`${jobs.claimedBy} like ${`${LOCAL_PREFIX}%`}`));
  return claimants
    .map((c) => c.claimedBy!)
    .filter((claimant) => claimant !== PROCESS_LABEL && !ownerAlive(claimant.slice(LOCAL_PREFIX.length)));
}

/** Takes the next job of this kind, or the job `jobId`; null when there is none to take. */
async function claim(kind: AnyJobKind, jobId?: string, dead: string[] = []): Promise<Job | null> {
  const deadClaim = dead.length > 0 ? sql`or (state = 'running' and claimed_by in (${sql.join(dead.map((d) => sql`${d}`), sql`, `)}))` : sql``;
  const which = jobId ? sql`id = ${jobId}` : sql`kind = ${kind.name}`;
  const order = kind.newestFirst ? sql`created_at desc` : sql`created_at`;
  const rows = await db().execute<{ id: string }>(sql`
    update ${jobs} set
      state = 'running',
      attempts = attempts + 1,
      claim_token = gen_random_uuid(),
      claimed_by = ${PROCESS_LABEL},
      heartbeat_at = now(),
      failures = case when state = 'running'
        then failures || jsonb_build_array(jsonb_build_object('attempt', attempts, 'at', now(), 'reason', 'the process running it (' || coalesce(claimed_by, 'unknown') || ') stopped answering'))
        else failures end
    where id = (
      select id from ${jobs}
      where ${which} and (
        (state = 'queued' and run_after <= now())
        or (state = 'running' and heartbeat_at < now() - make_interval(secs => ${staleSeconds()}))
        ${deadClaim})
      order by ${order} limit 1 for update skip locked)
    returning id`);
  const id = rows[0]?.id;
  if (!id) return null;
  const [job] = await db().select().from(jobs).where(eq(jobs.id, id));
  const last = job?.failures.at(-1);
  if (job && last && last.attempt === job.attempts - 1 && last.reason.endsWith("stopped answering")) {
    console.log(`Job ${kind.name} ${job.id} (${job.key}): ${last.reason}; taken over (attempt ${job.attempts} of ${job.maxAttempts}).`);
  }
  return job ?? null;
}

/** The claim still holds: locked for the rest of the transaction, or ClaimLostError. */
async function guardClaim(tx: Transaction, job: Job): Promise<void> {
  const [mine] = await tx
    .select({ id: jobs.id })
    .from(jobs)
    .where(and(eq(jobs.id, job.id), eq(jobs.claimToken, job.claimToken!), eq(jobs.state, "running")))
    .for("update");
  if (!mine) throw new ClaimLostError(`Job ${job.kind} ${job.id} is no longer this process's (it was taken over or released).`);
}

async function heartbeat(job: Job): Promise<boolean> {
  const beat = await db()
    .update(jobs)
    .set({ heartbeatAt: sql`now()` })
    .where(and(eq(jobs.id, job.id), eq(jobs.claimToken, job.claimToken!)))
    .returning({ id: jobs.id });
  return beat.length > 0;
}

async function complete(job: Job): Promise<void> {
  await db()
    .update(jobs)
    .set({ state: "done", claimToken: null, finishedAt: sql`now()` })
    .where(and(eq(jobs.id, job.id), eq(jobs.claimToken, job.claimToken!)));
}

/** Gives the job back without counting the attempt: this process is stopping. */
async function release(job: Job): Promise<void> {
  await db()
    .update(jobs)
    .set({ state: "queued", claimToken: null, attempts: sql`greatest(${jobs.attempts} - 1, 0)`, runAfter: sql`now()` })
    .where(and(eq(jobs.id, job.id), eq(jobs.claimToken, job.claimToken!)));
}

/** Records the attempt's failure: queued again after a backoff, or failed with the domain told. */
async function recordFailure(kind: AnyJobKind, job: Job, reason: string, { retry }: { retry: boolean }): Promise<void> {
  const failure = { attempt: job.attempts, at: new Date().toISOString(), reason };
  await db().transaction(async (tx) => {
    await guardClaim(tx, job);
    const again = retry && job.attempts < job.maxAttempts;
    await tx
      .update(jobs)
      .set({
        state: again ? "queued" : "failed",
        claimToken: null,
        failures: sql`${jobs.failures} || ${JSON.stringify([failure])}::jsonb`,
        // The database's clock, which claims compare with.
        ...(again ? { runAfter: sql`now() + make_interval(secs => ${backoffDelay(job.attempts, RETRY_BACKOFF) / 1000})` } : { finishedAt: sql`now()` }),
      })
      .where(eq(jobs.id, job.id));
    if (!again && kind.onFailure) {
      const payload = kind.schema.safeParse(job.payload);
      if (payload.success) await kind.onFailure(payload.data, { reason, attempts: job.attempts, tx });
    }
  }).catch((error: unknown) => {
    if (!(error instanceof ClaimLostError)) throw error;
  });
  console.error(`Job ${kind.name} ${job.id} (${job.key}) attempt ${job.attempts} of ${job.maxAttempts} failed: ${reason}`);
}

/** Runs one claimed attempt to its end, whatever that is; never throws. */
async function execute(kind: AnyJobKind, job: Job, stopping: AbortSignal): Promise<void> {
  try {
    if (job.attempts > job.maxAttempts) {
      // Taken over from a dead process after its last attempt: nothing left to try.
      return await recordFailure(kind, job, "the process running its last attempt stopped answering", { retry: false });
    }
    const payload = kind.schema.safeParse(job.payload);
    if (!payload.success) return await recordFailure(kind, job, `its payload is not valid: ${payload.error.message}`, { retry: false });
    const abandon = new AbortController();
    const deadlineMs = typeof kind.deadlineMs === "function" ? kind.deadlineMs(payload.data) : kind.deadlineMs;
    const deadline = setTimeout(() => abandon.abort(new DeadlineError(`it ran longer than its deadline of ${describeMs(deadlineMs)} and was stopped`)), deadlineMs);
    const onStop = () => abandon.abort(new StoppingError("the process running it is stopping"));
    stopping.addEventListener("abort", onStop, { once: true });
    // Beats go on until the handler has really settled, abandoned or not: the job must not be
    // taken over while this attempt may still be doing something (a command on a host).
    const beats = setInterval(() => {
      heartbeat(job).then(
        (held) => held || abandon.abort(new ClaimLostError("its claim was taken over by another process")),
        (error: unknown) => console.error(`Job ${job.id}: heartbeat failed (retrying):`, error),
      );
    }, (staleSeconds() * 1000) / 4);
    const context: JobContext = {
      jobId: job.id,
      attempt: job.attempts,
      signal: abandon.signal,
      // An abandoned attempt writes nothing, though its claim still stands while it winds down.
      transaction: (work) =>
        db().transaction(async (tx) => {
          if (abandon.signal.aborted) throw abandon.signal.reason as Error;
          await guardClaim(tx, job);
          return work(tx);
        }),
    };
    const work = runInWorkScope({ tag: job.claimToken!, signal: abandon.signal }, () => kind.handle(payload.data, context));
    const settled = work.then(
      () => ({ ok: true as const }),
      (error: unknown) => ({ ok: false as const, error }),
    );
    const abandoned = new Promise<"abandoned">((resolve) => abandon.signal.addEventListener("abort", () => resolve("abandoned"), { once: true }));
    let outcome = await Promise.race([settled, abandoned]);
    clearTimeout(deadline);
    try {
      if (outcome === "abandoned") {
        // Whatever it started here is stopped, daemons and appliances included; then it is given
        // time to settle (a command on a host ends by its own timeout).
        await killWork(job.claimToken!);
        const grace = abandon.signal.reason instanceof StoppingError ? STOP_GRACE_MS : ABANDON_GRACE_MS;
        const waited = await Promise.race([settled, new Promise<"abandoned">((resolve) => setTimeout(() => resolve("abandoned"), grace).unref())]);
        // Its last write may have committed just as it was abandoned: then it did finish.
        outcome = waited !== "abandoned" && waited.ok ? waited : { ok: false, error: abandon.signal.reason };
      }
    } finally {
      clearInterval(beats);
      stopping.removeEventListener("abort", onStop);
    }
    await killWork(job.claimToken!); // a daemon it left behind (an appliance never closed)
    if (outcome.ok) return await complete(job);
    const failure = outcome.error;
    if (failure instanceof ClaimLostError) return console.error(`Job ${kind.name} ${job.id}: ${failure.message}`);
    if (failure instanceof StoppingError) return await release(job);
    await recordFailure(kind, job, reasonOf(failure), { retry: !(failure instanceof PermanentJobError) });
  } catch (error) {
    // The database went away mid-way: the claim goes stale and another attempt takes it over.
    console.error(`Job ${kind.name} ${job.id}: could not record its end:`, error);
  }
}

export interface JobRunner {
  /** Stops claiming, abandons running attempts (released, not counted) and waits for them. */
  stop(): Promise<void>;
}

/**
 * Claims and runs jobs of these kinds for as long as the process lives, in the order given (an
 * earlier kind is claimed first). `schedules` enqueue recurring jobs at start and every `everyMs`.
 */
export function startJobRunner(
  kinds: AnyJobKind[],
  { schedules = [] }: { schedules?: { kind: AnyJobKind; payload: unknown; everyMs: number }[] } = {},
): JobRunner {
  const stopping = new AbortController();
  const running = new Map<string, number>();
  const attempts = new Set<Promise<void>>();
  let pumping = false;
  let again = false;

  const pump = async () => {
    if (pumping) return void (again = true);
    pumping = true;
    try {
      do {
        again = false;
        const dead = await deadLocalClaimants();
        for (const kind of kinds) {
          while (!stopping.signal.aborted && (running.get(kind.name) ?? 0) < kind.concurrency) {
            const job = await claim(kind, undefined, dead);
            if (!job) break;
            running.set(kind.name, (running.get(kind.name) ?? 0) + 1);
            const attempt = execute(kind, job, stopping.signal).finally(() => {
              running.set(kind.name, (running.get(kind.name) ?? 1) - 1);
              attempts.delete(attempt);
              if (!stopping.signal.aborted) void pump();
            });
            attempts.add(attempt);
          }
        }
      } while (again && !stopping.signal.aborted);
    } catch (error) {
      console.error("Claiming jobs failed; trying again shortly:", error);
    } finally {
      pumping = false;
    }
  };

  const poll = setInterval(() => void pump(), POLL_MS);
  poll.unref();
  const names = new Set(kinds.map((kind) => kind.name));
  const listening = sqlClient()
    .listen(JOBS_CHANNEL, (name) => names.has(name) && void pump(), () => void pump())
    .catch((error: unknown) => console.error("Listening for new jobs failed; polling instead:", error));
  const timers = schedules.map(({ kind, payload, everyMs }) => {
    const enqueue = () => void kind.enqueue(payload).catch((error: unknown) => console.error(`Scheduling ${kind.name} failed:`, error));
    enqueue();
    const timer = setInterval(enqueue, everyMs);
    timer.unref();
    return timer;
  });
  void pump();

  return {
    async stop() {
      stopping.abort();
      clearInterval(poll);
      for (const timer of timers) clearInterval(timer);
      await listening.then((subscription) => subscription?.unlisten()).catch(() => undefined);
      await Promise.all([...attempts]);
    },
  };
}

/**
 * Waits until the job has ended, running it (and its retries) in this process whenever no other
 * process has it: for callers that wait on the result (the CLI, tests, benchmarks). Its row.
 */
export async function settleJob(kind: AnyJobKind, jobId: string, { pollMs = 250 } = {}): Promise<Job> {
  const never = new AbortController().signal;
  for (;;) {
    const [job] = await db().select().from(jobs).where(eq(jobs.id, jobId));
    if (!job) throw new Error(`No job ${jobId}.`);
    if (job.state === "done" || job.state === "failed") return job;
    const claimed = await claim(kind, jobId, await deadLocalClaimants());
    if (claimed) await execute(kind, claimed, never);
    else await new Promise((resolve) => setTimeout(resolve, pollMs));
  }
}
