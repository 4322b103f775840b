// The job runner on a real database with real child processes: a hanging child (and the daemon
// it left) is killed at the deadline and the job retried up to its limit, each failure recorded;
// a child killed mid-write (a broken pipe) fails the job, not this process; a process that lost
// its claim writes nothing; a kind never runs more attempts at once than its concurrency.
import { randomUUID } from "node:crypto";
import { readFileSync, readdirSync } from "node:fs";
import { eq, sql } from "drizzle-orm";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { z } from "zod";
import { db } from "@/db/client";
import { jobs } from "@/db/schema";
import { fixtureImagePath } from "@/server/testing/fixture-image";
import { processesOfWork } from "@/server/tools/child-processes";
import { Guestfish } from "@/server/tools/guestfish";
import { runTool } from "@/server/tools/run-tool";
import { ClaimLostError, defineJob } from "./define-job";
import { settleJob, startJobRunner } from "./runner";

const ZKey = z.object({ key: z.string() });
const run = randomUUID().slice(0, 8); // kinds of this run only: no other runner knows them
const WRITES = "job_test_writes";

/** The pids whose command line contains `marker`. */
function processesWith(marker: string): number[] {
  return readdirSync("/proc")
    .filter((entry) => /^\d+$/.test(entry))
    .filter((pid) => {
      try {
        return readFileSync(`/proc/${pid}/cmdline`, "latin1").includes(marker);
      } catch {
        return false;
      }
    })
    .map(Number);
}

beforeAll(() => db().execute(sql.raw(`create table if not exists ${WRITES} (key text primary key)`)));
afterAll(async () => {
  await db().execute(sql`delete from ${jobs} where kind like ${`test-${run}-%`}`);
  await db().execute(sql.raw(`drop table if exists ${WRITES}`));
});

describe("the job runner", () => {
  it("kills a hanging child and the daemon it started at the deadline, and retries up to the limit", async () => {
    const marker = `twinboot-hang-${run}`;
    const hanging = defineJob({
      name: `test-${run}-hang`,
      schema: ZKey,
      key: ({ key }) => key,
      deadlineMs: 1500,
      attempts: 2,
      concurrency: 1,
      async handle() {
        // A daemon that leaves the process group (setsid), then a foreground child that hangs.
        await runTool("bash", ["-c", `setsid bash -c 'exec -a ${marker} sleep 600' </dev/null >/dev/null 2>&1 & exec -a ${marker} sleep 600`], { timeoutMs: 600_000 });
      },
    });
    const jobId = await hanging.enqueue({ key: "one" });
    const settling = settleJob(hanging, jobId);
    await expect.poll(() => processesWith(marker).length, { timeout: 10_000, interval: 50 }).toBe(2); // both ran
    const job = await settling;
    expect(processesWith(marker)).toEqual([]);
    expect(job).toMatchObject({ state: "failed", attempts: 2 });
    expect(job.failures.map((f) => f.attempt)).toEqual([1, 2]);
    for (const failure of job.failures) expect(failure.reason).toBe("it ran longer than its deadline of 2 s and was stopped");
    expect(processesWith(marker)).toEqual([]);
  }, 60_000);

  it("fails the job, not the process, when a child dies with a broken pipe mid-write", async () => {
    const killed: number[] = [];
    const broken = defineJob({
      name: `test-${run}-pipe`,
      schema: ZKey,
      key: ({ key }) => key,
      deadlineMs: 120_000,
      attempts: 1,
      concurrency: 1,
      async handle(_payload, job) {
        const fish = await Guestfish.open([{ file: fixtureImagePath(), format: "raw" }]);
        try {
          await fish.call("mount-ro", "/dev/sda1", "/");
          // Megabytes of script to one `guestfish --remote` client; it is killed while they go in.
          const watcher = setInterval(async () => {
            const tag = await currentTag(job.jobId);
            for (const pid of tag ? await processesOfWork(tag) : []) {
              if (readFileSync(`/proc/${pid}/cmdline`, "latin1").startsWith("guestfish\0--remote") && !killed.includes(pid)) {
                killed.push(pid);
                process.kill(pid, "SIGKILL");
              }
            }
          }, 50);
          try {
            await fish.script(Array.from({ length: 200_000 }, (_, i) => `is-file "/no/such/file/${i}"`));
          } finally {
            clearInterval(watcher);
          }
        } finally {
          await fish.close();
        }
      },
    });
    const jobId = await broken.enqueue({ key: "one" });
    const job = await settleJob(broken, jobId);
    expect(killed.length).toBeGreaterThan(0);
    expect(job).toMatchObject({ state: "failed", attempts: 1 });
    expect(job.failures[0]!.reason).toMatch(/guestfish --remote \(a script of 200000 commands\) was killed by SIGKILL/);
  }, 180_000);

  it("writes nothing once its claim is lost", async () => {
    let outcome: unknown;
    const overtaken = defineJob({
      name: `test-${run}-lost`,
      schema: ZKey,
      key: ({ key }) => key,
      deadlineMs: 30_000,
      attempts: 1,
      concurrency: 1,
      async handle({ key }, job) {
        // Another process takes the job over while this one works.
        await db().update(jobs).set({ claimToken: randomUUID() }).where(eq(jobs.id, job.jobId));
        try {
          await job.transaction((tx) => tx.execute(sql`insert into ${sql.raw(WRITES)} (key) values (${key})`));
        } catch (error) {
          outcome = error;
        }
      },
    });
    const jobId = await overtaken.enqueue({ key: `lost-${run}` });
    const settled = settleJob(overtaken, jobId);
    // This attempt's end is not its to record either: the row stays with the other claim.
    await expect.poll(() => outcome, { timeout: 20_000 }).toBeInstanceOf(ClaimLostError);
    const written = await db().execute(sql`select key from ${sql.raw(WRITES)} where key = ${`lost-${run}`}`);
    expect(written).toHaveLength(0);
    const [row] = await db().select().from(jobs).where(eq(jobs.id, jobId));
    expect(row?.state).toBe("running");
    await db().update(jobs).set({ state: "done" }).where(eq(jobs.id, jobId));
    await settled;
  }, 60_000);

  it("runs no more attempts of a kind at once than its concurrency", async () => {
    let now = 0;
    let most = 0;
    const limited = defineJob({
      name: `test-${run}-limited`,
      schema: ZKey,
      key: ({ key }) => key,
      deadlineMs: 30_000,
      attempts: 1,
      concurrency: 1,
      async handle() {
        most = Math.max(most, ++now);
        await new Promise((resolve) => setTimeout(resolve, 200));
        now--;
      },
    });
    const ids = await Promise.all(["a", "b", "c"].map((key) => limited.enqueue({ key })));
    const runner = startJobRunner([limited]);
    try {
      for (const id of ids) await expect.poll(async () => (await db().select().from(jobs).where(eq(jobs.id, id)))[0]?.state, { timeout: 20_000 }).toBe("done");
    } finally {
      await runner.stop();
    }
    expect(most).toBe(1);
  }, 60_000);
});

async function currentTag(jobId: string): Promise<string | null> {
  const [row] = await db().select({ claimToken: jobs.claimToken }).from(jobs).where(eq(jobs.id, jobId));
  return row?.claimToken ?? null;
}
