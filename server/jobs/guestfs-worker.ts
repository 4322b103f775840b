// The libguestfs worker: one appliance job at a time (each costs seconds of CPU, tens under TCG),
// change sets first — a user is waiting for them on the session page — then image inspections.
// Both queues live in Postgres, so jobs survive restarts and several servers share them.
import { diffNextChangeSet } from "@/server/changes/change-set-worker";
import { inspectNextImage } from "@/server/images/inspection-worker";

const POLL_MS = 5_000;

/** Runs jobs for as long as the process lives. */
export function startGuestfsWorker(): void {
  const loop = async () => {
    try {
      while ((await diffNextChangeSet()) || (await inspectNextImage()));
    } catch (error) {
      console.error("The libguestfs worker failed; retrying shortly:", error);
    }
    setTimeout(loop, POLL_MS).unref();
  };
  void loop();
}
