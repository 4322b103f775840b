// The `twinboot-agent` CLI, run on the physical computer: enroll it, back up its disk, report status.
import { parseArgs } from "node:util";
import { ZodError } from "zod";
import { runBackup, type BackupMode, type BackupProgress } from "./backup";
import { ConfigError, DEFAULT_CONFIG_PATH, readAgentConfig, writeAgentConfig } from "./config";
import { freezeFilesystems, mountedFilesystems } from "./disk-device";
import { ServerClient, ServerError } from "./server-client";

const USAGE = `Usage: twinboot-agent <command> [--config FILE]

  enroll --server URL --token TOKEN      trade a one-time enrollment token for this machine's credential
  backup [--device PATH] [--full | --independent] [--freeze | --allow-inconsistent] [--json]
                                         image the disk (a block device or a disk image file) and send it
  status [--json]                        the last image and whether the server answers

The configuration (default ${DEFAULT_CONFIG_PATH}, 0600) holds the server, the credential and the device.`;

class UsageError extends Error {}

const MiB = 1024 * 1024;

function progressLine(p: BackupProgress, started: number): string {
  const seconds = (Date.now() - started) / 1000;
  const rate = p.bytesRead / Math.max(seconds, 0.001);
  const eta = rate > 0 ? Math.round((p.totalBytes - p.bytesRead) / rate) : 0;
  const percent = Math.floor((100 * p.bytesRead) / p.totalBytes);
  const bar = "#".repeat(Math.floor(percent / 5)).padEnd(20, ".");
  return `[${bar}] ${percent}%  read ${(p.bytesRead / MiB).toFixed(0)}/${(p.totalBytes / MiB).toFixed(0)} MiB  sent ${(p.bytesSent / MiB).toFixed(1)} MiB  ${(rate / MiB).toFixed(0)} MiB/s  ETA ${eta}s`;
}

async function run(argv: string[]): Promise<void> {
  const [command, ...rest] = argv;
  const { values } = parseArgs({
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
    },
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

      // A filesystem mounted read-write changes under the reader: refuse, freeze it, or be told to go on.
      const busy = (await mountedFilesystems(device)).filter((m) => m.readWrite);
      let thaw = async () => {};
      if (busy.length > 0) {
        const where = busy.map((m) => `${m.source} on ${m.mountPoint}`).join(", ");
        if (values.freeze) {
          thaw = await freezeFilesystems(busy.map((m) => m.mountPoint));
          log(`Froze ${where} for the whole read; writes there wait until the backup has read the disk.`);
        } else if (values["allow-inconsistent"]) {
          log(`Warning: ${where} is mounted read-write; reading anyway (--allow-inconsistent): the image may be inconsistent.`);
        } else {
          throw new UsageError(
            `${device} holds a filesystem mounted read-write (${where}); an image of it would be inconsistent. Unmount it, or use --freeze (blocks writes during the read) or --allow-inconsistent.`,
          );
        }
      } else {
        log(`No filesystem on ${device} is mounted read-write: the image is consistent.`);
      }
      const onSignal = () => void thaw().finally(() => process.exit(130));
      process.once("SIGINT", onSignal).once("SIGTERM", onSignal);

      const started = Date.now();
      const tty = process.stderr.isTTY && !values.json;
      try {
        const mode: BackupMode = values.independent ? "independent" : values.full ? "full" : "auto";
        const summary = await runBackup({
          config,
          client,
          device,
          mode,
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
      } finally {
        await thaw();
        process.off("SIGINT", onSignal).off("SIGTERM", onSignal);
      }
      return;
    }
    case "status": {
      const config = await readAgentConfig(values.config);
      const client = new ServerClient(config.server, config.credential);
      const state = await client.machineState(config.machineId).catch((error: unknown) => error as ServerError);
      const answering = !(state instanceof ServerError);
      const status = {
        machine: config.machineName,
        server: config.server,
        serverAnswers: answering,
        serverProblem: answering ? null : state.message,
        lastImage: answering ? state.lastAgentImage : null,
      };
      if (values.json) return void console.log(JSON.stringify(status));
      console.log(`Machine:     ${status.machine}`);
      console.log(`Server:      ${status.server} (${answering ? "answers" : `not answering: ${status.serverProblem}`})`);
      if (answering) {
        console.log(`Last image:  ${status.lastImage ? `${status.lastImage.id}, taken ${status.lastImage.takenAt.toISOString()}` : "none yet"}`);
      }
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
    if (error instanceof ServerError || error instanceof ConfigError) console.error(`twinboot-agent: ${error.message}`);
    else if (error instanceof ZodError) console.error(`twinboot-agent: unexpected answer from the server: ${error.issues[0]?.message}`);
    else if (error instanceof TypeError && "code" in error && String(error.code).startsWith("ERR_PARSE_ARGS")) {
      console.error(`twinboot-agent: ${error.message}\n\n${USAGE}`);
      return 2;
    } else console.error(`twinboot-agent: ${error instanceof Error ? error.message : String(error)}`);
    return 1;
  }
}
