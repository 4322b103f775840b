// Every kind of job, in the order a process claims them (what a user is waiting for first), and
// the one way a process starts running them: the server (server.ts) and `twinboot worker`.
import { listChangesJob } from "@/server/changes/change-set-job";
import { inspectImageJob } from "@/server/images/inspection-job";
import { SWEEP_UPLOADS_EVERY_MS, sweepUploadsJob } from "@/server/images/upload-sweep-job";
import { finishSessionJob, provisionSessionJob } from "@/server/sessions/session-jobs";
import { sweepOrphans } from "@/server/tools/child-processes";
import { startJobRunner, type JobRunner } from "./runner";

export const jobKinds = [provisionSessionJob, finishSessionJob, listChangesJob, inspectImageJob, sweepUploadsJob];

const ORPHAN_SWEEP_MS = 60_000;

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
export async function startJobs({ appliance }: { appliance: boolean }): Promise<JobRunner> {
  await sweepOrphansLogged();
  const sweeper = setInterval(() => void sweepOrphansLogged(), ORPHAN_SWEEP_MS);
  sweeper.unref();
  const runner = startJobRunner(
    jobKinds.filter((kind) => appliance || !kind.appliance),
    { schedules: [{ kind: sweepUploadsJob, payload: {}, everyMs: SWEEP_UPLOADS_EVERY_MS }] },
  );
  return {
    async stop() {
      clearInterval(sweeper);
      await runner.stop();
    },
  };
}
