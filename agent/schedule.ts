// When the daemon backs up: `hourly`, `daily` (01:00), `weekly` (Sunday 01:00) or a cron
// expression (5 fields, or 6 with seconds first), in the machine's local time.
import { Cron } from "croner";
import { z } from "zod";
import { backoffDelay } from "@/wire/backoff";

const KEYWORDS: Record<string, string> = {
  hourly: "0 * * * *",
  daily: "0 1 * * *",
  weekly: "0 1 * * 0",
};

function cronOf(schedule: string): Cron {
  return new Cron(KEYWORDS[schedule] ?? schedule, { paused: true });
}

export const ZScheduleSchema = z.string().refine(
  (schedule) => {
    try {
      return cronOf(schedule).nextRun() !== null;
    } catch {
      return false;
    }
  },
  { message: 'must be "hourly", "daily", "weekly" or a cron expression such as "30 2 * * 1-5"' },
);

/** The first scheduled time strictly after `after`. */
export function nextBackupAt(schedule: string, after: Date): Date {
  const next = cronOf(schedule).nextRun(after);
  if (!next) throw new Error(`The schedule "${schedule}" has no next time.`);
  return next;
}

/** How long to wait before retry `attempt` (1, 2, …) while the server cannot be reached. */
export function retryDelayMs(attempt: number): number {
  return backoffDelay(attempt, { baseMs: 60_000, maxMs: 30 * 60_000 });
}
