// The one way the server runs an external tool (qemu-img, guestfish, qemu-storage-daemon):
// arguments as an array, never a shell string; a timeout; stderr captured; a failure names the
// command and carries the tool's own message. Each tool runs in its own process group with the
// tags of child-processes.ts, so that a timeout, a cancelled request or an abandoned job stops it
// and everything it started, and errors on its pipes (a child that dies mid-write) are reported
// as its failure instead of crashing the server.
import { spawn, type ChildProcess, type SpawnOptions } from "node:child_process";
import { open, readFile, rm } from "node:fs/promises";
import path from "node:path";
import { randomBytes } from "node:crypto";
import { childEnv, ensureOwnerWorkDir } from "./child-processes";
import { currentWorkScope } from "./work-scope";

const MAX_OUTPUT_BYTES = 16 * 1024 * 1024;

export interface ToolResult {
  exitCode: number;
  stdout: string;
  stderr: string;
}

export class ToolError extends Error {}

/** Kills the child's whole process group (it leads one: spawned detached). */
function killGroup(child: ChildProcess) {
  if (child.pid === undefined || child.exitCode !== null || child.signalCode !== null) return;
  try {
    process.kill(-child.pid, "SIGKILL");
  } catch {
    child.kill("SIGKILL");
  }
}

/**
 * Starts a tool with the protections above; the caller reads and writes its pipes. `signal` (and
 * the current job's) kill its process group; errors on its pipes are swallowed here and surface
 * as its exit. Use runTool unless the tool needs streaming input or output.
 */
export async function spawnTool(
  command: string,
  args: string[],
  { env = process.env, signal, stdio = ["pipe", "pipe", "pipe"] }: { env?: NodeJS.ProcessEnv; signal?: AbortSignal; stdio?: SpawnOptions["stdio"] } = {},
): Promise<ChildProcess> {
  const scope = currentWorkScope();
  const signals = [signal, scope?.signal].filter((s): s is AbortSignal => s !== undefined);
  const stop = signals.length > 0 ? AbortSignal.any(signals) : undefined;
  if (stop?.aborted) throw new ToolError(`${command} was not started: ${describeAbort(stop)}`);
  const child = spawn(command, args, { env: await childEnv(env, scope?.tag), stdio, detached: true });
  // A detached child still ends with us: it is only its own group so that it can be killed whole.
  for (const pipe of [child.stdin, child.stdout, child.stderr]) pipe?.on("error", () => undefined);
  if (stop) {
    const onAbort = () => killGroup(child);
    stop.addEventListener("abort", onAbort, { once: true });
    child.once("close", () => stop.removeEventListener("abort", onAbort));
  }
  return child;
}

function describeAbort(signal: AbortSignal): string {
  const reason: unknown = signal.reason;
  return reason instanceof Error && reason.name !== "AbortError" ? reason.message : "the request was cancelled";
}

export async function runTool(
  command: string,
  args: string[],
  {
    timeoutMs = 60_000,
    okExitCodes = [0],
    env,
    signal,
    stdin,
  }: { timeoutMs?: number; okExitCodes?: number[]; env?: NodeJS.ProcessEnv; signal?: AbortSignal; stdin?: string | Buffer } = {},
): Promise<ToolResult> {
  const described = [command, ...args].join(" ");
  const timeout = AbortSignal.timeout(timeoutMs);
  const stop = AbortSignal.any([timeout, ...(signal ? [signal] : [])]);
  const child = await spawnTool(command, args, { env, signal: stop });
  const scope = currentWorkScope();
  return new Promise((resolve, reject) => {
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    let bytes = 0;
    let overflow = false;
    const keep = (into: Buffer[]) => (chunk: Buffer) => {
      bytes += chunk.length;
      if (bytes > MAX_OUTPUT_BYTES) {
        overflow = true;
        return killGroup(child);
      }
      into.push(chunk);
    };
    child.stdout?.on("data", keep(out));
    child.stderr?.on("data", keep(err));
    let spawnError: NodeJS.ErrnoException | undefined;
    child.once("error", (error) => (spawnError = error));
    child.once("close", (code, killedBy) => {
      const stdout = Buffer.concat(out).toString("utf8");
      const stderr = Buffer.concat(err).toString("utf8");
      const exitCode = code ?? -1;
      if (!spawnError && !overflow && killedBy === null && okExitCodes.includes(exitCode)) return resolve({ exitCode, stdout, stderr });
      const how = spawnError
        ? "could not be run" // e.g. ENOENT when the tool is not installed
        : overflow
          ? `printed more than ${MAX_OUTPUT_BYTES} bytes and was stopped`
          : timeout.aborted
            ? `was stopped after ${timeoutMs} ms`
            : scope?.signal.aborted
              ? `was stopped: ${describeAbort(scope.signal)}`
              : signal?.aborted
                ? "was stopped: the request was cancelled"
                : killedBy
                  ? `was killed by ${killedBy}`
                  : `exited with code ${exitCode}`;
      const output = (stderr.trim() || stdout.trim() || spawnError?.message) ?? "";
      reject(new ToolError(`${described} ${how}: ${output}`, { cause: spawnError }));
    });
    if (stdin !== undefined) child.stdin?.end(stdin);
    else child.stdin?.end();
  });
}


/**
 * Runs a tool that forks a daemon and exits (`guestfish --listen`). The daemon keeps whatever
 * stdout and stderr it was given, so pipes would never close: its output goes to files in this
 * process's work folder instead, read once the first process has exited. Resolves with what that
 * first process printed; the daemon runs on, tagged like every child.
 */
export async function startDaemon(
  command: string,
  args: string[],
  { timeoutMs = 60_000, env }: { timeoutMs?: number; env?: NodeJS.ProcessEnv } = {},
): Promise<ToolResult & { processGroup: number }> {
  const described = [command, ...args].join(" ");
  const base = path.join(await ensureOwnerWorkDir(), `daemon-${randomBytes(6).toString("hex")}`);
  const out = await open(`${base}.out`, "w", 0o600);
  const err = await open(`${base}.err`, "w", 0o600);
  try {
    const child = await spawnTool(command, args, { env, stdio: ["ignore", out.fd, err.fd], signal: AbortSignal.timeout(timeoutMs) });
    const exitCode = await new Promise<number>((resolve) => {
      child.once("error", () => resolve(-1));
      child.once("exit", (code) => resolve(code ?? -1));
    });
    const [stdout, stderr] = await Promise.all([readFile(`${base}.out`, "utf8"), readFile(`${base}.err`, "utf8")]);
    if (exitCode !== 0 || child.pid === undefined) throw new ToolError(`${described} exited with code ${exitCode}: ${stderr.trim() || stdout.trim()}`);
    // The daemon stays in the group the first process led: killing it kills the daemon and its children.
    return { exitCode, stdout, stderr, processGroup: child.pid };
  } finally {
    await out.close();
    await err.close();
    // The daemon still has them open; unlinking leaves its writes harmless and nothing behind.
    await rm(`${base}.out`, { force: true });
    await rm(`${base}.err`, { force: true });
  }
}
