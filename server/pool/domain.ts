// libvirt domains on a hypervisor host, one verb each (cockpit-machines' libvirtApi/domain.ts):
// every function takes one object and runs virsh over the host's pooled SSH connection; a failure
// is a VirshError naming the host and the command. Parsing virsh's output is kept apart, pure.
import type { HypervisorHost } from "@/db/schema";
import { virsh, virshResult } from "./virsh";

/** Parses `virsh list --name`: one domain name a line, blank lines dropped. */
export function parseDomainList(output: string): string[] {
  return output
    .split("\n")
    .map((line) => line.trim())
    .filter((line) => line !== "");
}

/**
 * Parses `virsh domblklist --details` (headers off with --quiet, on without): the file or device
 * behind each disk, empty drives ("-") left out. A source is the rest of its line, spaces and all.
 */
export function parseDomainDiskSources(output: string): string[] {
  return output
    .split("\n")
    .map((line) => /^\s*(\S+)\s+\S+\s+\S+\s+(.*\S)\s*$/.exec(line))
    .filter((match): match is RegExpExecArray => match !== null && match[1] !== "Type" && match[2] !== "-")
    .map((match) => match[2]!);
}

/** Starts a transient domain from its XML (given on stdin); once it is off, it is gone. */
export async function domainCreate({ host, xml }: { host: HypervisorHost; xml: string }): Promise<void> {
  await virsh(host, ["create", "/dev/stdin"], { stdin: xml });
}

/** Asks the guest to power off (ACPI); resolves once asked, not once off. */
export async function domainShutdown({ host, name }: { host: HypervisorHost; name: string }): Promise<void> {
  await virsh(host, ["shutdown", name, "--mode", "acpi"]);
}

/** Pulls the plug. */
export async function domainDestroy({ host, name }: { host: HypervisorHost; name: string }): Promise<void> {
  await virsh(host, ["destroy", name]);
}

/** The names of the host's running domains. */
export async function listDomains({ host }: { host: HypervisorHost }): Promise<string[]> {
  return parseDomainList(await virsh(host, ["list", "--name"]));
}

/** The files (or devices) behind the running domain's disks, as its host names them. */
export async function domainDiskSources({ host, name }: { host: HypervisorHost; name: string }): Promise<string[]> {
  return parseDomainDiskSources(await virsh(host, ["domblklist", name, "--details"]));
}

/** The domain's screen as an image file's bytes: PNG, or a binary PPM from older QEMU/libvirt. */
export async function domainScreenshot({ host, name, timeoutMs }: { host: HypervisorHost; name: string; timeoutMs?: number }): Promise<Buffer> {
  return (await virshResult(host, ["screenshot", name, "--file", "/dev/stdout"], { timeoutMs })).output;
}

/** A QEMU monitor command (QMP JSON, or HMP text with `hmp`); resolves with QEMU's answer. */
export async function domainMonitorCommand({ host, name, command, hmp = false }: { host: HypervisorHost; name: string; command: string; hmp?: boolean }): Promise<string> {
  return virsh(host, ["qemu-monitor-command", name, ...(hmp ? ["--hmp"] : []), command]);
}
