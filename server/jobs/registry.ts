// Every kind of job, in the order a process claims them (what a user is waiting for first), and
// the one way a process starts running them: the server (server.ts) and `twinboot worker`.
import { listChangesJob } from "@/server/changes/change-set-job";
import { inspectImageJob } from "@/server/images/inspection-job";
import { SWEEP_UPLOADS_EVERY_MS, sweepUploadsJob } from "@/server/images/upload-sweep-job";
import { finishSessionJob, provisionSessionJob } from "@/server/sessions/session-jobs";
import { sweepOrphans } from "@/server/tools/child-processes";
import { InvalidInputError } from "@/server/errors";
import { startJobRunner, type JobRunner } from "./runner";

export const jobKinds = [provisionSessionJob, finishSessionJob, listChangesJob, inspectImageJob, sweepUploadsJob];

const ORPHAN_SWEEP_MS = 60_000;

export class UnknownJobKindError extends InvalidInputError {}

async function sweepOrphansLogged() {
  try {
    const { processes, folders } = await sweepOrphans();
    if (processes + folders > 0) console.log(`Stopped ${processes} process(es) and removed ${folders} temporary folder(s) left by a stopped Twinboot process.`);
  } catch (error) {
    console.error("Sweeping leftovers of stopped Twinboot processes failed:", error);
  }
}

/**
 * Sweeps what stopped processes left (appliances, NBD daemons, temporary folders), then runs
 * jobs: all kinds, or — with `appliance: false` (INSPECTION_WORKER=false) — none that runs
 * libguestfs or qemu-img on the store. Keeps sweeping every minute.
 */
export async function startJobs({ appliance, only }: { appliance: boolean; only?: string[] }): Promise<JobRunner> {
  const unknown = only?.filter((name) => !jobKinds.some((kind) => kind.name === name)) ?? [];
  if (unknown.length > 0) throw new UnknownJobKindError(`No job kind ${unknown.join(", ")}; the kinds are ${jobKinds.map((k) => k.name).join(", ")}.`);
  await sweepOrphansLogged();
  const sweeper = setInterval(() => void sweepOrphansLogged(), ORPHAN_SWEEP_MS);
  sweeper.unref();
  const runner = startJobRunner(
    jobKinds.filter((kind) => (appliance || !kind.appliance) && (!only || only.includes(kind.name))),
    { schedules: !only || only.includes(sweepUploadsJob.name) ? [{ kind: sweepUploadsJob, payload: {}, everyMs: SWEEP_UPLOADS_EVERY_MS }] : [] },
  );
  return {
    async stop() {
      clearInterval(sweeper);
      await runner.stop();
    },
  };
}
