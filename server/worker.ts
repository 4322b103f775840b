// A worker process: runs every kind of job, libguestfs work included, and serves nothing — so
// that production can keep appliances off the web servers (INSPECTION_WORKER=false there).
// `npm run worker` or `twinboot worker`; stops gracefully on SIGTERM and SIGINT.
import { closeDb } from "@/db/client";
import { env } from "@/server/env";
import { startJobs } from "@/server/jobs/registry";
import { JOB_CLAIMANT } from "@/server/jobs/runner";
import { closeAllHostConnections } from "@/server/pool/host-connections";

/** Runs until SIGTERM or SIGINT; resolves with the exit code. `only` names the kinds to run (default: all). */
export async function runWorker({ only }: { only?: string[] } = {}): Promise<number> {
  env();
  const runner = await startJobs({ appliance: true, only });
  console.log(`Twinboot worker running (pid ${process.pid}; claims jobs as ${JOB_CLAIMANT}).`);
  const signal = await new Promise<string>((resolve) => {
    process.once("SIGTERM", () => resolve("SIGTERM"));
    process.once("SIGINT", () => resolve("SIGINT"));
  });
  console.log(`${signal} received: releasing running jobs, then stopping.`);
  await runner.stop();
  closeAllHostConnections();
  await closeDb();
  return 0;
}
