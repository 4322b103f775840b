// The `twinboot-agent` CLI, run on the physical computer: enroll it, back up its disk, report status.
import { parseArgs } from "node:util";
import { ZodError } from "zod";
import type { ConflictPolicy } from "./apply/apply-changes";
import { applyCommand } from "./apply-back/apply-command";
import { ApplyBackError, reportUndo, undoRequest } from "./apply-back/carry-out";
import { listenForApplyRequests } from "./apply-back/listen";
import { takeBackup, type BackupProgress } from "./backup";
import { ask } from "./prompt";
import { inspectTarget, restoreImage, RestoreError } from "./restore";
import { ConfigError, DEFAULT_CONFIG_PATH, readAgentConfig, writeAgentConfig } from "./config";
import { InconsistentReadError } from "./consistency";
import { readDaemonState, runDaemon } from "./daemon";
import { nextBackupAt } from "./schedule";
import { ServerClient, ServerError } from "./server-client";

const USAGE = `Usage: twinboot-agent <command> [--config FILE]

  enroll --server URL --token TOKEN      trade a one-time enrollment token for this machine's credential
  backup [--device PATH] [--full | --independent] [--freeze | --allow-inconsistent] [--json]
                                         image the disk (a block device or a disk image file) and send it
  run [--device PATH] [--now]            back up on the schedule in the configuration (and at once
                                         with --now), and hear of apply-back requests, until stopped;
                                         the systemd unit runs this
  apply [REQUEST] [--yes | --decline] [--root DIR] [--conflict both|keep-local|keep-remote]
                                         show the changes waiting to come home and apply them (asks
                                         first unless --yes), or decline them
  apply --undo REQUEST                   put back every file an apply touched, as it was before
  restore --image ID --device PATH [--yes]
                                         write a whole image (any point of a timeline, of any of your
                                         machines) to a disk or a disk image file; refuses one in use
  status [--json]                        the last image, the next scheduled backup, whether the server answers

The configuration (default ${DEFAULT_CONFIG_PATH}, 0600) holds the server, the credential, the device,
the schedule ("hourly", "daily", "weekly" or a cron expression; default daily) and "whenMounted"
("refuse", "freeze" or "allow-inconsistent": what a scheduled backup does with a filesystem
mounted read-write that cannot be snapshotted). For apply-back: "applyRoot" (where changes go;
default /), "conflict" (default "both": a file changed at home too is kept, the session's copy is
put beside it as NAME.twinboot-<session>), and "applyRoots" when the disk has several filesystems.`;

class UsageError extends Error {}

function conflictPolicy(value: string): ConflictPolicy {
  if (value === "both" || value === "keep-local" || value === "keep-remote") return value;
  throw new UsageError(`--conflict is both, keep-local or keep-remote, not “${value}”.`);
}

const MiB = 1024 * 1024;

/** One line of progress; `bytesSent` null for a restore, which only reads. */
function progressLine(p: Pick<BackupProgress, "bytesRead" | "totalBytes"> & { bytesSent: number | null }, started: number): string {
  const seconds = (Date.now() - started) / 1000;
  const rate = p.bytesRead / Math.max(seconds, 0.001);
  const eta = rate > 0 ? Math.round((p.totalBytes - p.bytesRead) / rate) : 0;
  const percent = Math.floor((100 * p.bytesRead) / p.totalBytes);
  const bar = "#".repeat(Math.floor(percent / 5)).padEnd(20, ".");
  return `[${bar}] ${percent}%  read ${(p.bytesRead / MiB).toFixed(0)}/${(p.totalBytes / MiB).toFixed(0)} MiB${p.bytesSent === null ? "" : `  sent ${(p.bytesSent / MiB).toFixed(1)} MiB`}  ${(rate / MiB).toFixed(0)} MiB/s  ETA ${eta}s`;
}

async function run(argv: string[]): Promise<void> {
  const [command, ...rest] = argv;
  const { values, positionals } = parseArgs({
    args: rest,
    strict: true,
    options: {
      config: { type: "string", default: DEFAULT_CONFIG_PATH },
      server: { type: "string" },
      token: { type: "string" },
      device: { type: "string" },
      full: { type: "boolean" },
      independent: { type: "boolean" },
      freeze: { type: "boolean" },
      "allow-inconsistent": { type: "boolean" },
      json: { type: "boolean" },
      now: { type: "boolean" },
      root: { type: "string" },
      conflict: { type: "string" },
      yes: { type: "boolean" },
      decline: { type: "boolean" },
      undo: { type: "string" },
      image: { type: "string" },
    },
    allowPositionals: true,
  });
  const log = (line: string) => console.error(line);

  switch (command) {
    case "enroll": {
      if (!values.server || !values.token) throw new UsageError("enroll needs --server and --token.");
      const server = new URL(values.server).origin;
      const enrolled = await new ServerClient(server).enroll(values.token);
      const existing = await readAgentConfig(values.config).catch(() => null);
      await writeAgentConfig(values.config, {
        server,
        machineId: enrolled.machineId,
        machineName: enrolled.machineName,
        credential: enrolled.credential,
        device: existing?.device,
        stateDir: existing?.stateDir ?? "/var/lib/twinboot-agent",
        schedule: existing?.schedule,
        whenMounted: existing?.whenMounted,
      });
      console.log(`Enrolled as “${enrolled.machineName}”. Configuration written to ${values.config}.`);
      return;
    }
    case "backup": {
      if (values.full && values.independent) throw new UsageError("Choose --full or --independent, not both.");
      if (values.freeze && values["allow-inconsistent"]) throw new UsageError("Choose --freeze or --allow-inconsistent, not both.");
      const config = await readAgentConfig(values.config);
      const device = values.device ?? config.device;
      if (!device) throw new UsageError(`Say which disk to image: --device PATH (or "device" in ${values.config}).`);
      const client = new ServerClient(config.server, config.credential, {
        attempts: 5,
        firstDelayMs: 1000,
        onRetry: (error, delay) => log(`${error.message} Retrying in ${Math.round(delay / 1000)} s.`),
      });
      const started = Date.now();
      const tty = process.stderr.isTTY && !values.json;
      const summary = await takeBackup({
        config,
        client,
        device,
        mode: values.independent ? "independent" : values.full ? "full" : "auto",
        whenMounted: values.freeze ? "freeze" : values["allow-inconsistent"] ? "allow-inconsistent" : "refuse",
        log,
        onProgress: tty ? (p) => process.stderr.write(`\r${progressLine(p, started)}`) : undefined,
      });
      if (tty) process.stderr.write("\n");
      if (values.json) console.log(JSON.stringify(summary));
      else {
        console.log(
          `Image ${summary.imageId} (${summary.kind}) stored: read ${(summary.bytesRead / MiB).toFixed(0)} MiB, sent ${(summary.bytesSent / MiB).toFixed(1)} MiB in ${summary.seconds.toFixed(1)} s.`,
        );
      }
      return;
    }
    case "run": {
      const config = await readAgentConfig(values.config);
      const device = values.device ?? config.device;
      const stop = new AbortController();
      const onSignal = () => stop.abort();
      process.once("SIGINT", onSignal).once("SIGTERM", onSignal);
      // Under systemd the journal stamps each line; elsewhere the daemon does.
      const daemonLog = process.env.JOURNAL_STREAM ? (line: string) => console.log(line) : (line: string) => console.log(`${new Date().toISOString()} ${line}`);
      const conflict = conflictPolicy(values.conflict ?? config.conflict);
      if (!device) daemonLog(`No disk to back up (--device PATH, or "device" in ${values.config}): only listening for apply-back requests.`);
      // If either stops with an error, the other is stopped too, so the process exits (and
      // systemd restarts it) rather than living on half-working.
      const stopAllOnFailure = (task: Promise<void>) =>
        task.catch((error: unknown) => {
          stop.abort();
          throw error;
        });
      const outcomes = await Promise.allSettled([
        device ? stopAllOnFailure(runDaemon({ config, device, now: values.now, log: daemonLog, signal: stop.signal })) : null,
        stopAllOnFailure(
          listenForApplyRequests({ client: new ServerClient(config.server, config.credential), config, root: values.root ?? config.applyRoot, conflict, log: daemonLog, signal: stop.signal }),
        ),
      ]);
      const failed = outcomes.find((o) => o.status === "rejected");
      if (failed) throw failed.reason;
      return;
    }
    case "apply": {
      const config = await readAgentConfig(values.config);
      if (values.undo) {
        if (values.yes || values.decline) throw new UsageError("--undo goes alone.");
        const undone = await undoRequest(config, values.undo);
        console.log(`Put back ${undone.restored.length} path${undone.restored.length === 1 ? "" : "s"} as they were before request ${values.undo}.`);
        for (const kept of undone.keptAside) console.log(`  ${kept} had changed since the apply: that version is kept as ${kept}.twinboot-undo-kept`);
        // The session page shows it as undone (an apply stopped part way: failed, saying why). A
        // server out of reach hears of it at the agent's next contact (reportPendingUndos).
        const told = await reportUndo(new ServerClient(config.server, config.credential), config, values.undo, log);
        if (!told) log("The server cannot be reached now: it is told of the undo the next time the agent reaches it (twinboot-agent run, or apply).");
        return;
      }
      if (values.yes && values.decline) throw new UsageError("Choose --yes or --decline, not both.");
      await applyCommand({
        client: new ServerClient(config.server, config.credential, { attempts: 5, firstDelayMs: 1000, onRetry: (error, delay) => log(`${error.message} Retrying in ${Math.round(delay / 1000)} s.`) }),
        config,
        requestId: positionals[0],
        answer: values.yes ? "yes" : values.decline ? "decline" : "ask",
        root: values.root ?? config.applyRoot,
        conflict: conflictPolicy(values.conflict ?? config.conflict),
        log,
      });
      return;
    }
    case "restore": {
      if (!values.image || !values.device) throw new UsageError("restore needs --image ID and --device PATH.");
      const config = await readAgentConfig(values.config);
      const target = await inspectTarget(values.device);
      if (target.exists && !values.yes) {
        const question = `Everything on ${values.device} will be replaced by image ${values.image}. Type "yes" to go on: `;
        if (!process.stdin.isTTY) throw new UsageError(`${values.device} exists: add --yes to replace everything on it.`);
        if ((await ask(question, process.stderr)) !== "yes") return void console.log("Nothing written.");
      }
      const client = new ServerClient(config.server, config.credential);
      const started = Date.now();
      const tty = process.stderr.isTTY && !values.json;
      const result = await restoreImage({
        client,
        machineId: config.machineId,
        imageId: values.image,
        target,
        onProgress: tty
          ? (p) => process.stderr.write(`\r${progressLine({ bytesRead: p.bytesDone, totalBytes: p.totalBytes, bytesSent: null }, started)}`)
          : undefined,
      });
      if (tty) process.stderr.write("\n");
      if (values.json) console.log(JSON.stringify({ imageId: values.image, device: values.device, ...result }));
      else console.log(`Image ${values.image} written to ${values.device}: ${(result.bytes / MiB).toFixed(0)} MiB disk, ${(result.written / MiB).toFixed(1)} MiB written, every extent checked, in ${result.seconds.toFixed(1)} s.`);
      return;
    }
    case "status": {
      const config = await readAgentConfig(values.config);
      const client = new ServerClient(config.server, config.credential);
      const state = await client.machineState(config.machineId).catch((error: unknown) => error as ServerError);
      const answering = !(state instanceof ServerError);
      const daemon = await readDaemonState(config);
      const status = {
        machine: config.machineName,
        server: config.server,
        serverAnswers: answering,
        serverProblem: answering ? null : state.message,
        lastImage: answering ? state.lastAgentImage : null,
        schedule: config.schedule,
        nextBackupAt: nextBackupAt(config.schedule, new Date()),
        lastAttemptAt: daemon?.lastAttemptAt ?? null,
        lastError: daemon?.lastError ?? null,
      };
      if (values.json) return void console.log(JSON.stringify(status));
      console.log(`Machine:     ${status.machine}`);
      console.log(`Server:      ${status.server} (${answering ? "answers" : `not answering: ${status.serverProblem}`})`);
      if (answering) {
        console.log(`Last image:  ${status.lastImage ? `${status.lastImage.id}, taken ${status.lastImage.takenAt.toLocaleString()}` : "none yet"}`);
      }
      console.log(`Next backup: ${status.nextBackupAt.toLocaleString()} (schedule "${status.schedule}", when \`twinboot-agent run\` is running)`);
      if (status.lastError) console.log(`Last run:    failed at ${status.lastAttemptAt?.toLocaleString()}: ${status.lastError}`);
      return;
    }
    default:
      throw new UsageError(command ? `Unknown command: ${command}` : "");
  }
}

/** Runs the CLI; returns the exit code. Errors print one line, never a stack trace. */
export async function main(argv: string[]): Promise<number> {
  try {
    await run(argv);
    return 0;
  } catch (error) {
    if (error instanceof UsageError) {
      if (error.message) console.error(`twinboot-agent: ${error.message}`);
      if (!error.message || error.message.startsWith("Unknown")) console.error(`\n${USAGE}`);
      return 2;
    }
    if (error instanceof InconsistentReadError || error instanceof ApplyBackError || error instanceof RestoreError) {
      console.error(`twinboot-agent: ${error.message}`);
      return 2;
    }
    if (error instanceof ServerError || error instanceof ConfigError) console.error(`twinboot-agent: ${error.message}`);
    else if (error instanceof ZodError) console.error(`twinboot-agent: unexpected answer from the server: ${error.issues[0]?.message}`);
    else if (error instanceof TypeError && "code" in error && String(error.code).startsWith("ERR_PARSE_ARGS")) {
      console.error(`twinboot-agent: ${error.message}\n\n${USAGE}`);
      return 2;
    } else console.error(`twinboot-agent: ${error instanceof Error ? error.message : String(error)}`);
    return 1;
  }
}
