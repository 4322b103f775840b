// A command run on a hypervisor host that failed: one error class for all of them (virsh,
// qemu-img, …), naming the host, the command and what the tool itself said.
import type { HypervisorHost } from "@/db/schema";
import { runOnHost } from "./host-connections";
import type { CommandResult } from "./ssh-connection";

/** What a tool printed, on one line: libvirt's `error: ` prefixes dropped. */
export function toolMessage(output: string): string {
  return output.trim().replace(/^error: /gm, "").replace(/\s*\n\s*/g, " ");
}

export class RemoteCommandError extends Error {
  /** The host's name (or user@host when it is not registered yet). */
  readonly host: string;
  /** The tool and its subcommand, e.g. "virsh create" or "qemu-img create". */
  readonly command: string;
  readonly stderr: string;
  readonly exitCode: number;

  constructor({ host, command, result, hint }: { host: string; command: string; result: Pick<CommandResult, "code" | "stdout" | "stderr">; hint?: string }) {
    const said = toolMessage(result.stderr) || toolMessage(result.stdout);
    super(`${command} on host ${host} failed: ${said || `exit code ${result.code}`}${hint ? `. ${hint}` : ""}`);
    this.host = host;
    this.command = command;
    this.stderr = result.stderr;
    this.exitCode = result.code;
  }
}

/** Runs `argv` on the host's pooled connection; a non-zero exit throws a RemoteCommandError naming `command` (default: the first two words). */
export async function runOnHostOrThrow(
  host: HypervisorHost,
  argv: string[],
  { command = argv.slice(0, 2).join(" "), stdin, timeoutMs }: { command?: string; stdin?: string; timeoutMs?: number } = {},
): Promise<CommandResult> {
  const result = await runOnHost(host, argv, { stdin, timeoutMs });
  if (result.code !== 0) throw new RemoteCommandError({ host: host.name, command, result });
  return result;
}
