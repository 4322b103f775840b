// libvirt on a hypervisor host, driven only through `virsh` over the host's SSH connection: XML
// goes on stdin, output is parsed by the caller, and every failure names the host and command.
// The verbs callers use are in domain.ts (and node capacity below); only server/pool runs virsh.
import type { HypervisorHost } from "@/db/schema";
import { runOnHost } from "./host-connections";
import { RemoteCommandError } from "./remote-command";
import type { CommandResult } from "./ssh-connection";

/** A failed virsh command: a RemoteCommandError, named apart for the callers that catch it. */
export class VirshError extends RemoteCommandError {}

/** The argv of `virsh <args>` against `libvirtUri`. */
export function virshArgv(libvirtUri: string, args: string[]): string[] {
  return ["virsh", "--quiet", "-c", libvirtUri, ...args];
}

/** Runs `virsh <args>` on the host; resolves with the whole result (stdout as bytes too) when it exits 0. */
export async function virshResult(host: HypervisorHost, args: string[], options: { stdin?: string; timeoutMs?: number } = {}): Promise<CommandResult> {
  const result = await runOnHost(host, virshArgv(host.libvirtUri, args), options);
  if (result.code !== 0) throw new VirshError({ host: host.name, command: `virsh ${args[0]}`, result });
  return result;
}

export async function virsh(host: HypervisorHost, args: string[], options: { stdin?: string; timeoutMs?: number } = {}): Promise<string> {
  return (await virshResult(host, args, options)).stdout;
}

export interface NodeCapacity {
  cpus: number;
  memoryBytes: number;
}

/** Parses `virsh nodeinfo`. */
export function parseNodeInfo(output: string): NodeCapacity {
  const field = (name: string) => new RegExp(`^${name}:\\s+(\\d+)`, "m").exec(output)?.[1];
  const cpus = Number(field("CPU\\(s\\)"));
  const memoryKiB = Number(field("Memory size"));
  if (!cpus || !memoryKiB) throw new Error(`virsh nodeinfo gave no CPU count or memory size: ${output.trim()}`);
  return { cpus, memoryBytes: memoryKiB * 1024 };
}

export async function nodeCapacity(host: HypervisorHost): Promise<NodeCapacity> {
  return parseNodeInfo(await virsh(host, ["nodeinfo"]));
}
