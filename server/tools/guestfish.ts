// One libguestfs appliance, driven through guestfish in remote mode: `guestfish --listen` starts
// the appliance's owner process, and every command goes to it — one at a time with call(), or
// thousands in one go with script(), which pipes them to a single `guestfish --remote` client
// (an appliance round trip each, instead of a process each). An appliance launch costs seconds
// (tens under TCG): do everything a job needs in one.
import { randomBytes } from "node:crypto";
import { kvmWorks } from "./kvm-probe";
import { runTool, spawnTool, startDaemon, ToolError } from "./run-tool";

export interface GuestfishDisk {
  file: string;
  format: "qcow2" | "raw";
}

/** A string as a guestfish script argument: double-quoted, with C-style escapes. */
export function quoteArg(value: string): string {
  return `"${value.replace(/[\\"]/g, (c) => `\\${c}`).replace(/[\x00-\x1f\x7f]/g, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, "0")}`)}"`;
}

export class Guestfish {
  private constructor(
    private readonly pid: string,
    private readonly env: NodeJS.ProcessEnv,
  ) {}

  /** Starts the appliance with the disks attached (read-only unless `writable`) and runs it. */
  static async open(disks: GuestfishDisk[], { writable = false } = {}): Promise<Guestfish> {
    const env = {
      ...process.env,
      LIBGUESTFS_BACKEND: "direct",
      ...((await kvmWorks()) ? {} : { LIBGUESTFS_BACKEND_SETTINGS: "force_tcg" }),
    };
    const args = ["--listen", ...(writable ? [] : ["--ro"])];
    for (const disk of disks) args.push(`--format=${disk.format}`, "-a", disk.file);
    const started = await startDaemon("guestfish", args, { env, timeoutMs: 30_000 });
    const pid = /GUESTFISH_PID=(\d+)/.exec(started.stdout)?.[1];
    if (!pid) throw new ToolError(`guestfish --listen did not say its pid: ${started.stdout}${started.stderr}`);
    const fish = new Guestfish(pid, env);
    try {
      await fish.call("run");
    } catch (error) {
      await fish.close();
      throw error;
    }
    return fish;
  }

  /** One command; its output. A failing command ends the appliance (guestfish's remote rule): close() after. */
  async call(...args: string[]): Promise<string> {
    return (await runTool("guestfish", [`--remote=${this.pid}`, "--", ...args], { env: this.env, timeoutMs: 600_000 })).stdout;
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
    const child = await spawnTool("guestfish", [`--remote=${this.pid}`], { env: this.env });
    const stdout = await new Promise<string>((resolve, reject) => {
      const out: Buffer[] = [];
      const err: Buffer[] = [];
      child.stdout!.on("data", (chunk: Buffer) => out.push(chunk));
      child.stderr!.on("data", (chunk: Buffer) => err.push(chunk));
      child.on("error", reject);
      child.on("close", (code, signal) => {
        if (code === 0) resolve(Buffer.concat(out).toString("utf8"));
        else reject(new ToolError(`guestfish --remote (a script of ${commands.length} commands) ${signal ? `was killed by ${signal}` : `exited with code ${code}`}: ${Buffer.concat(err).toString("utf8").trim()}`));
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

  async close(): Promise<void> {
    await this.call("exit").catch(() => undefined);
  }
}
