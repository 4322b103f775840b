// libvirt on a hypervisor host, driven only through `virsh` over the host's SSH connection: XML
// goes on stdin, output is parsed by the caller, and every failure names the host and command.
import type { HypervisorHost } from "@/db/schema";
import { runOnHost } from "./host-connections";

export class VirshError extends Error {}

export async function virsh(host: HypervisorHost, args: string[], options: { stdin?: string; timeoutMs?: number } = {}): Promise<string> {
  const result = await runOnHost(host, ["virsh", "--quiet", "-c", host.libvirtUri, ...args], options);
  if (result.code !== 0) {
    const message = (result.stderr.trim() || result.stdout.trim()).replace(/^error: /gm, "").replace(/\s*\n\s*/g, " ");
    throw new VirshError(`virsh ${args[0]} on host ${host.name} failed: ${message || `exit code ${result.code}`}`);
  }
  return result.stdout;
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
  if (!cpus || !memoryKiB) throw new VirshError(`virsh nodeinfo gave no CPU count or memory size: ${output.trim()}`);
  return { cpus, memoryBytes: memoryKiB * 1024 };
}

export async function nodeCapacity(host: HypervisorHost): Promise<NodeCapacity> {
  return parseNodeInfo(await virsh(host, ["nodeinfo"]));
}
