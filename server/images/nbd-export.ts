// One qcow2 file served (writable, or read-only) over NBD by qemu-storage-daemon, with a connected client, for as
// long as an upload writes into it. qemu does the qcow2 work (allocation, copy-on-write from the
// backing file for partial clusters, zero clusters); the backing file named in the qcow2 header is
// opened by qemu itself, read-only.
import { access, rm } from "node:fs/promises";
import path from "node:path";
import { NbdClient } from "@/server/images/nbd-client";
import { MAX_SOCKET_PATH_BYTES } from "@/server/images/store";
import { spawnTool } from "@/server/tools/run-tool";

const DAEMON = "qemu-storage-daemon";
const EXPORT_NAME = "disk";
const STARTUP_TIMEOUT_MS = 15_000;
const STOP_TIMEOUT_MS = 15_000;
const CONNECT_RETRY_MS = 20;
/** Keep the end of the daemon's stderr for error messages; it is only ever a few lines. */
const STDERR_KEEP_BYTES = 16 * 1024;
/**
 * qemu allocates a fresh buffer for every NBD request; glibc serves large ones with mmap, and the
 * page faults that fill each new mapping cost more than the write itself (11 s instead of 2.9 s
 * for 1.5 GiB here). Raising the mmap threshold to glibc's maximum keeps them on the reused heap.
 */
const DAEMON_MALLOC_TUNABLES = "glibc.malloc.mmap_threshold=33554432:glibc.malloc.trim_threshold=1073741824";

export interface NbdExport {
  client: NbdClient;
  /** The daemon's process id, for diagnostics. */
  pid: number;
  /** Flushes, disconnects, stops the daemon and removes the socket. Rejects if anything failed on the way, including an earlier crash of the daemon. */
  close(): Promise<void>;
}

/** qemu's option syntax separates with commas; a literal comma in a value is written twice. */
function optionValue(value: string) {
  return value.replaceAll(",", ",,");
}

function daemonArgs(file: string, socketPath: string, readOnly: boolean) {
  const access = readOnly ? ",read-only=on" : "";
  return [
    "--blockdev",
    `driver=file,node-name=file0,filename=${optionValue(file)}${access}`,
    "--blockdev",
    `driver=qcow2,node-name=disk0,file=file0${access}`,
    "--nbd-server",
    `addr.type=unix,addr.path=${optionValue(socketPath)}`,
    "--export",
    `type=nbd,id=exp0,node-name=disk0,name=${EXPORT_NAME},writable=${readOnly ? "off" : "on"}`,
  ];
}

function describeExit(code: number | null, signal: NodeJS.Signals | null) {
  return signal ? `was killed by ${signal}` : `exited with code ${code}`;
}

function isNotListeningYet(error: unknown) {
  const code = (error as NodeJS.ErrnoException | undefined)?.code;
  return code === "ENOENT" || code === "ECONNREFUSED";
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Exports `file` (with its backing chain) writable, or read-only with `readOnly`. */
export async function openNbdExport({ file, socketPath, readOnly = false }: { file: string; socketPath: string; readOnly?: boolean }): Promise<NbdExport> {
  if (Buffer.byteLength(socketPath) > MAX_SOCKET_PATH_BYTES) {
    throw new Error(`NBD socket path is longer than ${MAX_SOCKET_PATH_BYTES} bytes: ${socketPath}`);
  }
  // A socket already there could belong to another live daemon; connecting to it would write into the wrong image.
  const socketInUse = await access(socketPath).then(
    () => true,
    () => false,
  );
  if (socketInUse) throw new Error(`NBD socket path already exists: ${socketPath}`);

  const args = daemonArgs(path.resolve(file), socketPath, readOnly);
  const commandLine = [DAEMON, ...args].join(" ");
  const daemon = await spawnTool(DAEMON, args, {
    stdio: ["ignore", "pipe", "pipe"],
    env: { ...process.env, GLIBC_TUNABLES: DAEMON_MALLOC_TUNABLES },
  });

  let output = "";
  const keepOutput = (chunk: Buffer) => {
    output = (output + chunk.toString("utf8")).slice(-STDERR_KEEP_BYTES);
  };
  daemon.stdout!.on("data", keepOutput);
  daemon.stderr!.on("data", keepOutput);
  const daemonError = (what: string) => new Error(`${commandLine} ${what}${output.trim() ? `: ${output.trim()}` : ""}`);

  let exit: { code: number | null; signal: NodeJS.Signals | null } | undefined;
  let spawnError: Error | undefined;
  const exited = new Promise<void>((resolve) => {
    daemon.once("error", (error) => {
      spawnError = error;
      resolve();
    });
    // "close" comes after stdio has ended, so `output` is complete by then.
    daemon.once("close", (code, signal) => {
      exit = { code, signal };
      resolve();
    });
  });
  const isRunning = () => !exit && !spawnError;

  const startupFailure = async (what: string) => {
    if (isRunning()) daemon.kill("SIGKILL");
    await exited;
    await rm(socketPath, { force: true });
    if (spawnError) return new Error(`Could not start ${DAEMON}: ${spawnError.message} (command: ${commandLine})`, { cause: spawnError });
    return daemonError(what);
  };

  // The socket appears once the images are open; the first connection that succeeds is the client's.
  let client: NbdClient | undefined;
  const deadline = Date.now() + STARTUP_TIMEOUT_MS;
  while (!client) {
    if (!isRunning()) throw await startupFailure(exit ? `${describeExit(exit.code, exit.signal)} before the export was ready` : "failed");
    try {
      client = await NbdClient.connect(socketPath, { exportName: EXPORT_NAME });
    } catch (error) {
      if (!isNotListeningYet(error)) {
        const failure = await startupFailure("started, but the NBD connection failed");
        throw new Error(`${failure.message} (${error instanceof Error ? error.message : String(error)})`, { cause: error });
      }
      if (Date.now() > deadline) throw await startupFailure(`did not listen on ${socketPath} within ${STARTUP_TIMEOUT_MS} ms`);
      await sleep(CONNECT_RETRY_MS);
    }
  }
  const connected = client;

  // Set when close() signals the daemon; any other way of ending is a crash.
  let stopSignal: NodeJS.Signals | undefined;
  let crash: Error | undefined;
  void exited.then(() => {
    const code = exit?.code ?? null;
    const signal = exit?.signal ?? null;
    if (stopSignal && (code === 0 || signal === stopSignal)) return;
    crash = spawnError ?? daemonError(`${describeExit(code, signal)} unexpectedly while exporting ${file}`);
    connected.destroy(crash);
  });

  let closing: Promise<void> | undefined;
  const close = () =>
    (closing ??= (async () => {
      let failure: unknown;
      if (isRunning()) {
        try {
          await connected.flush();
          await connected.close();
        } catch (error) {
          failure = error;
        }
      }
      if (isRunning()) {
        stopSignal = "SIGTERM";
        daemon.kill(stopSignal);
        let timer: NodeJS.Timeout | undefined;
        const stopped = await Promise.race([
          exited.then(() => true),
          new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(false), STOP_TIMEOUT_MS))),
        ]);
        clearTimeout(timer);
        if (!stopped) {
          stopSignal = "SIGKILL";
          daemon.kill(stopSignal);
          await exited;
          failure ??= daemonError(`did not stop within ${STOP_TIMEOUT_MS} ms of SIGTERM and was killed`);
        }
      }
      await exited;
      connected.destroy(new Error("NBD export is closed"));
      await rm(socketPath, { force: true });
      if (crash) throw crash;
      if (failure) throw failure;
    })());

  return { client: connected, pid: daemon.pid ?? -1, close };
}
