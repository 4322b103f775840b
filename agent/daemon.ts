// `twinboot-agent run`: backs up on the configured schedule for as long as it runs. A run that
// fails because the server cannot be reached is retried with backoff until the next scheduled
// time; any other failure is logged and waits for the next scheduled time. What happened last is
// kept in the state folder, for `status`. Stops on SIGTERM/SIGINT (a backup in progress releases
// its freeze or snapshot first; its upload is abandoned, and the next run starts afresh).
import { mkdir, readFile, rename, writeFile } from "node:fs/promises";
import path from "node:path";
import { z } from "zod";
import { takeBackup } from "./backup";
import type { AgentConfig } from "./config";
import { sleep } from "./prompt";
import { nextBackupAt, retryDelayMs } from "./schedule";
import { ServerClient, ServerError } from "./server-client";

const ZDaemonStateSchema = z.object({
  lastAttemptAt: z.coerce.date().nullable(),
  lastSuccessAt: z.coerce.date().nullable(),
  lastImageId: z.string().nullable(),
  lastError: z.string().nullable(),
  nextBackupAt: z.coerce.date().nullable(),
});
export type DaemonState = z.infer<typeof ZDaemonStateSchema>;

function stateFile(config: AgentConfig): string {
  return path.join(config.stateDir, `${config.machineId}.daemon.json`);
}

export async function readDaemonState(config: AgentConfig): Promise<DaemonState | null> {
  const text = await readFile(stateFile(config), "utf8").catch(() => null);
  if (!text) return null;
  try {
    return ZDaemonStateSchema.parse(JSON.parse(text));
  } catch {
    return null;
  }
}

async function writeDaemonState(config: AgentConfig, state: DaemonState): Promise<void> {
  await mkdir(config.stateDir, { recursive: true, mode: 0o700 });
  const file = stateFile(config);
  await writeFile(`${file}.tmp`, JSON.stringify(state), { mode: 0o600 });
  await rename(`${file}.tmp`, file);
}

export async function runDaemon(options: {
  config: AgentConfig;
  device: string;
  /** Take the first backup at once rather than at the first scheduled time. */
  now?: boolean;
  log: (line: string) => void;
  signal: AbortSignal;
}): Promise<void> {
  const { config, device, log, signal } = options;
  let firstRunNow = options.now ?? false;
  const client = new ServerClient(config.server, config.credential);
  let state: DaemonState = (await readDaemonState(config)) ?? {
    lastAttemptAt: null,
    lastSuccessAt: null,
    lastImageId: null,
    lastError: null,
    nextBackupAt: null,
  };
  log(`Backing up ${device} of “${config.machineName}” to ${config.server} on the schedule "${config.schedule}".`);

  while (!signal.aborted) {
    const due = firstRunNow ? new Date() : nextBackupAt(config.schedule, new Date());
    firstRunNow = false;
    state = { ...state, nextBackupAt: due };
    await writeDaemonState(config, state);
    log(`Next backup at ${due.toLocaleString()}.`);
    if (!(await sleep(due.getTime() - Date.now(), signal))) break;

    // Until the run after this one is due, keep trying while the server cannot be reached.
    const giveUpAt = nextBackupAt(config.schedule, due);
    for (let attempt = 1; !signal.aborted; attempt++) {
      state = { ...state, lastAttemptAt: new Date() };
      try {
        const summary = await takeBackup({ config, client, device, mode: "auto", whenMounted: config.whenMounted, log });
        log(`Image ${summary.imageId} (${summary.kind}) stored: sent ${(summary.bytesSent / 2 ** 20).toFixed(1)} MiB in ${summary.seconds.toFixed(1)} s.`);
        state = { ...state, lastSuccessAt: new Date(), lastImageId: summary.imageId, lastError: null };
        break;
      } catch (error) {
        const message = error instanceof Error ? error.message : String(error);
        state = { ...state, lastError: message };
        const delay = retryDelayMs(attempt);
        if (error instanceof ServerError && error.retryable && Date.now() + delay < giveUpAt.getTime()) {
          log(`Backup failed: ${message} Retrying in ${Math.round(delay / 1000)} s.`);
          await writeDaemonState(config, state);
          if (!(await sleep(delay, signal))) break;
          continue;
        }
        log(`Backup failed: ${message} Trying again at the next scheduled time.`);
        break;
      }
    }
  }
  await writeDaemonState(config, { ...state, nextBackupAt: null });
  log("Stopped.");
}
