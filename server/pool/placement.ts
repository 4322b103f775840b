// Where a new VM goes: an enabled, reachable host with room for it, spreading load by choosing
// the one with the most memory left after it. Pure, so the rule is tested on its own.

export interface HostLoad {
  id: string;
  mode: "enabled" | "draining";
  reachable: boolean;
  cpus: number;
  memoryBytes: number;
  /** What the sessions already placed there use. */
  usedCpus: number;
  usedMemoryBytes: number;
}

export interface VmSize {
  cpus: number;
  memoryBytes: number;
}

/** Memory kept back on every host for the host itself and QEMU's own overhead. */
export const HOST_RESERVED_BYTES = 1024 * 1024 * 1024;

export function freeMemory(host: HostLoad): number {
  return host.memoryBytes - HOST_RESERVED_BYTES - host.usedMemoryBytes;
}

/** The host to use, or null when none has room (the caller says so to the user). */
export function placeVm<T extends HostLoad>(hosts: T[], size: VmSize): T | null {
  const candidates = hosts.filter(
    // vCPUs may be overcommitted up to twice the host's CPUs; memory is never overcommitted.
    (h) => h.mode === "enabled" && h.reachable && freeMemory(h) >= size.memoryBytes && h.usedCpus + size.cpus <= 2 * h.cpus,
  );
  candidates.sort((a, b) => freeMemory(b) - freeMemory(a) || a.usedCpus - b.usedCpus || a.id.localeCompare(b.id));
  return candidates[0] ?? null;
}
