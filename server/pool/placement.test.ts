import { describe, expect, it } from "vitest";
import { HOST_RESERVED_BYTES, placeVm, type HostLoad } from "./placement";

const GiB = 1024 ** 3;
const host = (id: string, over: Partial<HostLoad> = {}): HostLoad => ({
  id,
  mode: "enabled",
  reachable: true,
  cpus: 4,
  memoryBytes: 8 * GiB + HOST_RESERVED_BYTES,
  usedCpus: 0,
  usedMemoryBytes: 0,
  ...over,
});

describe("placing a VM", () => {
  it("spreads load: the host with the most memory left wins", () => {
    const hosts = [host("a", { usedMemoryBytes: 4 * GiB }), host("b", { usedMemoryBytes: 2 * GiB })];
    expect(placeVm(hosts, { cpus: 1, memoryBytes: GiB })?.id).toBe("b");
  });

  it("sends the second big VM to the other host when memory demands it", () => {
    const hosts = [host("a", { usedMemoryBytes: 6 * GiB }), host("b")];
    expect(placeVm(hosts, { cpus: 2, memoryBytes: 6 * GiB })?.id).toBe("b");
  });

  it("never uses a draining or unreachable host", () => {
    const hosts = [host("a", { mode: "draining" }), host("b", { reachable: false }), host("c", { usedMemoryBytes: 7 * GiB })];
    expect(placeVm(hosts, { cpus: 1, memoryBytes: GiB })?.id).toBe("c");
    expect(placeVm(hosts.slice(0, 2), { cpus: 1, memoryBytes: GiB })).toBeNull();
  });

  it("refuses when no host has the memory, and bounds vCPU overcommit at twice the CPUs", () => {
    expect(placeVm([host("a")], { cpus: 1, memoryBytes: 9 * GiB })).toBeNull();
    expect(placeVm([host("a", { usedCpus: 7 })], { cpus: 2, memoryBytes: GiB })).toBeNull();
    expect(placeVm([host("a", { usedCpus: 6 })], { cpus: 2, memoryBytes: GiB })?.id).toBe("a");
  });
});
