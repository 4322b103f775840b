// One libguestfs appliance, driven through guestfish in remote mode: `guestfish --listen` starts
// the appliance's owner process, and every command goes to it — one at a time with call(), or
// thousands in one go with script(), which pipes them to a single `guestfish --remote` client
// (an appliance round trip each, instead of a process each). An appliance launch costs seconds
// (tens under TCG): do everything a job needs in one.
//
// Every step has a deadline, so that a hung appliance is found out and killed: its launch
// (LAUNCH_DEADLINE_MS, by backend), each call (CALL_DEADLINE_MS, or the caller's), and a script's
// silence (SCRIPT_IDLE_DEADLINE_MS between two commands' ends). close() kills the appliance's
// process group when it does not exit when told; a job past its own deadline kills it too (it is
// tagged with the job: child-processes.ts).
import { randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import { applianceBackend, applianceEnv, forgetApplianceBackend, type ApplianceBackend } from "./appliance-backend";
import { runTool, spawnTool, startDaemon, ToolError } from "./run-tool";

export interface GuestfishDisk {
  file: string;
  format: "qcow2" | "raw";
}

/** A string as a guestfish script argument: double-quoted, with C-style escapes. */
export function quoteArg(value: string): string {
  return `"${value.replace(/[\\"]/g, (c) => `\\${c}`).replace(/[\x00-\x1f\x7f]/g, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, "0")}`)}"`;
}

/** How long an appliance may take to come up: seconds under KVM, tens of seconds under TCG on a busy machine. */
export const LAUNCH_DEADLINE_MS = { kvm: 60_000, tcg: 300_000 } as const;
/** One call (a mount, a listing of a whole filesystem, a read of one file). */
export const CALL_DEADLINE_MS = 600_000;
/** A script's commands each end within this (a checksum of one large file is the longest). */
export const SCRIPT_IDLE_DEADLINE_MS = 300_000;
/** How long a new daemon may take to make its socket (milliseconds on an idle machine). */
const SOCKET_WAIT_MS = 10_000;
/** Told to exit, a healthy appliance is gone in a second or two. */
const EXIT_DEADLINE_MS = 15_000;

/** Field 5 of /proc/PID/stat (after the parenthesised name): the process group; null when gone. */
function processGroupOf(pid: number): number | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[2]);
  } catch {
    return null;
  }
}

export class Guestfish {
  private constructor(
    private readonly pid: string,
    /** The process group of the daemon and its appliance (QEMU): what close() kills if need be. */
    private readonly processGroup: number,
    private readonly env: NodeJS.ProcessEnv,
  ) {}

  /**
   * Starts the appliance with the disks attached (read-only unless `writable`) and runs it, under
   * the backend probed for this machine. When it does not come up under KVM, the backend is probed
   * again and, if that now says TCG, it is started once more under TCG.
   */
  static async open(disks: GuestfishDisk[], { writable = false } = {}): Promise<Guestfish> {
    const backend = await applianceBackend();
    try {
      return await Guestfish.launch(disks, writable, backend);
    } catch (error) {
      forgetApplianceBackend();
      if (!backend.kvm) throw error;
      const again = await applianceBackend();
      if (again.kvm) throw error;
      return Guestfish.launch(disks, writable, again);
    }
  }

  private static async launch(disks: GuestfishDisk[], writable: boolean, backend: ApplianceBackend): Promise<Guestfish> {
    const env = applianceEnv(backend);
    const args = ["--listen", ...(writable ? [] : ["--ro"])];
    for (const disk of disks) args.push(`--format=${disk.format}`, "-a", disk.file);
    const started = await startDaemon("guestfish", args, { env, timeoutMs: 30_000 });
    const pid = /GUESTFISH_PID=(\d+)/.exec(started.stdout)?.[1];
    if (!pid) throw new ToolError(`guestfish --listen did not say its pid: ${started.stdout}${started.stderr}`);
    const fish = new Guestfish(pid, started.processGroup, env);
    try {
      await fish.firstCall(LAUNCH_DEADLINE_MS[backend.kvm ? "kvm" : "tcg"], ["run"]);
    } catch (error) {
      await fish.close();
      throw error;
    }
    return fish;
  }

  /** One command; its output. A failing command ends the appliance (guestfish's remote rule): close() after. */
  call(...args: string[]): Promise<string> {
    return this.callWithin(CALL_DEADLINE_MS, args);
  }

  /**
   * The first call to a new daemon. `guestfish --listen` says its pid before the daemon (its
   * child) has made its socket, so a client right after may find none ("the server is not
   * running"): nothing was run then, and the call is tried again until the socket is there.
   */
  private async firstCall(timeoutMs: number, args: string[]): Promise<string> {
    for (const started = Date.now(); ; ) {
      try {
        return await this.callWithin(timeoutMs, args);
      } catch (error) {
        const noSocketYet = error instanceof ToolError && /looks like the server is not running/.test(error.message);
        if (!noSocketYet || Date.now() - started > SOCKET_WAIT_MS) throw error;
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
    }
  }

  private async callWithin(timeoutMs: number, args: string[]): Promise<string> {
    return (await runTool("guestfish", [`--remote=${this.pid}`, "--", ...args], { env: this.env, timeoutMs })).stdout;
  }

  /**
   * Many commands (each already a script line, arguments quoted with quoteArg) through one
   * client. Each is allowed to fail without ending the appliance; the result has each one's
   * output, or null where it failed.
   */
  async script(commands: string[]): Promise<(string | null)[]> {
    if (commands.length === 0) return [];
    const marker = `@@twinboot-${randomBytes(8).toString("hex")}`;
    const text = commands.map((command, i) => `-${command}\necho ${marker} ${i}\n`).join("");
    // A client that dies mid-script (its appliance crashed or was killed) fails this call, not
    // the server: spawnTool handles the broken pipe.
    const silence = new AbortController();
    const child = await spawnTool("guestfish", [`--remote=${this.pid}`], { env: this.env, signal: silence.signal });
    let idle = setTimeout(() => silence.abort(), SCRIPT_IDLE_DEADLINE_MS);
    const stdout = await new Promise<string>((resolve, reject) => {
      const out: Buffer[] = [];
      const err: Buffer[] = [];
      child.stdout!.on("data", (chunk: Buffer) => {
        out.push(chunk);
        clearTimeout(idle);
        idle = setTimeout(() => silence.abort(), SCRIPT_IDLE_DEADLINE_MS);
      });
      child.stderr!.on("data", (chunk: Buffer) => err.push(chunk));
      child.on("error", reject);
      child.on("close", (code, signal) => {
        clearTimeout(idle);
        if (code === 0) return resolve(Buffer.concat(out).toString("utf8"));
        const how = silence.signal.aborted ? `printed nothing for ${SCRIPT_IDLE_DEADLINE_MS / 1000} s and was stopped` : signal ? `was killed by ${signal}` : `exited with code ${code}`;
        reject(new ToolError(`guestfish --remote (a script of ${commands.length} commands) ${how}: ${Buffer.concat(err).toString("utf8").trim()}`));
      });
      child.stdin!.end(text);
    });
    // Output is "<output of 0>@@… 0\n<output of 1>@@… 1\n…"; an empty output is a failure
    // for the commands used here (each prints something when it succeeds).
    const results: (string | null)[] = [];
    let rest = stdout;
    for (let i = 0; i < commands.length; i++) {
      const end = rest.indexOf(`${marker} ${i}\n`);
      if (end < 0) throw new ToolError(`guestfish --remote stopped after ${i} of ${commands.length} commands`);
      const output = rest.slice(0, end);
      results.push(output === "" ? null : output);
      rest = rest.slice(end + marker.length + String(i).length + 2);
    }
    return results;
  }

  /**
   * Ends the appliance: asked to exit, and killed (its whole process group) when it does not
   * answer in time. A daemon already gone (a failed call ends it) is not killed: its group's
   * number may belong to another tool by now; so is one whose pid no longer leads our group.
   */
  async close(): Promise<void> {
    const timedOut = await this.callWithin(EXIT_DEADLINE_MS, ["exit"]).then(
      () => false,
      (error: unknown) => error instanceof ToolError && / was stopped after /.test(error.message),
    );
    if (!timedOut || processGroupOf(Number(this.pid)) !== this.processGroup) return;
    try {
      process.kill(-this.processGroup, "SIGKILL");
    } catch {
      // Gone meanwhile.
    }
  }
}
