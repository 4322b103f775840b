// The hypervisor pool against real hosts: the two network-namespace hosts that
// scripts/test-pool.sh starts (npm test passes their description in TEST_POOL), each a real
// sshd in front of a real libvirt.
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { eq } from "drizzle-orm";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { db } from "@/db/client";
import { hypervisorHosts, type HypervisorHost } from "@/db/schema";
import { InvalidInputError } from "@/server/errors";
import { closeAllHostConnections, closeHostConnection, runOnHost } from "./host-connections";
import { addHost, checkHostHealth, listHosts, removeHost, setHostMode } from "./hosts";
import { HostKeyMismatchError } from "./ssh-connection";
import { nodeCapacity, virsh, VirshError } from "./virsh";

interface PoolHost {
  name: string;
  ssh: string;
  key: string;
  libvirtUri: string;
  sshdPidFile: string;
  sshdConfig: string;
  netns: string;
}

const poolFile = process.env.TEST_POOL;
if (!poolFile) throw new Error("TEST_POOL is not set: run the tests with npm test, which starts the test pool (scripts/test-pool.sh).");
const pool = (JSON.parse(readFileSync(poolFile, "utf8")) as { hosts: PoolHost[] }).hosts;
const actor = { userId: null, byUser: false };
const suffix = Math.random().toString(36).slice(2, 8);
const names = pool.map((h) => `${h.name}-${suffix}`);

async function row(name: string): Promise<HypervisorHost> {
  const [host] = await db().select().from(hypervisorHosts).where(eq(hypervisorHosts.name, name));
  return host!;
}

beforeAll(async () => {
  for (const [i, host] of pool.entries()) {
    await addHost({ name: names[i]!, ssh: host.ssh, privateKey: readFileSync(host.key, "utf8"), libvirtUri: host.libvirtUri }, actor);
  }
}, 120_000);

afterAll(async () => {
  for (const name of names) await removeHost(name, actor).catch(() => undefined);
  closeAllHostConnections();
});

describe("the hypervisor pool", () => {
  it("pins each host's SSH key as ssh-keygen shows it, and reads its capacity from libvirt", async () => {
    const listed = (await listHosts()).filter((h) => names.includes(h.name));
    expect(listed).toHaveLength(pool.length);
    for (const [i, host] of pool.entries()) {
      const entry = listed.find((h) => h.name === names[i])!;
      const keygen = execFileSync("ssh-keygen", ["-lf", `${host.sshdConfig.replace(/sshd_config$/, "hostkey.pub")}`], { encoding: "utf8" });
      expect(keygen).toContain(entry.hostKeyFingerprint);
      expect(entry).toMatchObject({ mode: "enabled", reachable: true, libvirtUri: "qemu:///session" });
      expect(entry.cpus).toBeGreaterThan(0);
      expect(entry.memoryBytes).toBeGreaterThan(512 * 1024 ** 2);
      expect(await nodeCapacity(await row(names[i]!))).toEqual({ cpus: entry.cpus, memoryBytes: entry.memoryBytes });
    }
    // The private key is stored encrypted, not as given.
    expect((await row(names[0]!)).sshPrivateKey).not.toContain("PRIVATE KEY");
  });

  it("reports libvirt's own error, naming the host and the command", async () => {
    await expect(virsh(await row(names[0]!), ["dominfo", "no-such-domain"])).rejects.toThrow(
      new RegExp(`^virsh dominfo on host ${names[0]} failed: .*no-such-domain`),
    );
    await expect(virsh(await row(names[0]!), ["dominfo", "no-such-domain"])).rejects.toBeInstanceOf(VirshError);
  });

  it("refuses a host whose key is not the pinned one, and stops using it", async () => {
    const host = await row(names[0]!);
    closeHostConnection(host.id);
    const pinned = host.hostKeyFingerprint;
    const other = "SHA256:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";
    await db().update(hypervisorHosts).set({ hostKeyFingerprint: other }).where(eq(hypervisorHosts.id, host.id));
    try {
      const failure = runOnHost(await row(names[0]!), ["true"]);
      await expect(failure).rejects.toBeInstanceOf(HostKeyMismatchError);
      await expect(failure).rejects.toThrow(`The SSH host key of ${pool[0]!.ssh.replace(/:22$/, "")} has changed: it is now ${pinned}, but ${other} was pinned`);
      expect(await row(names[0]!)).toMatchObject({ reachable: false, problem: expect.stringMatching(/has changed/) });
    } finally {
      await db().update(hypervisorHosts).set({ hostKeyFingerprint: pinned, reachable: true, problem: null }).where(eq(hypervisorHosts.id, host.id));
    }
    expect(await checkHostHealth(await row(names[0]!))).toBe("enabled");
  });

  it("does not add a host whose key is not the one the admin expects", async () => {
    const failure = addHost(
      { name: `other-${suffix}`, ssh: pool[0]!.ssh, privateKey: readFileSync(pool[0]!.key, "utf8"), libvirtUri: "qemu:///session", expectedFingerprint: "SHA256:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA" },
      actor,
    );
    await expect(failure).rejects.toBeInstanceOf(InvalidInputError);
    await expect(failure).rejects.toThrow(/presented the host key SHA256:\S+, not the expected SHA256:A+\. Nothing was added\./);
    expect(await db().select().from(hypervisorHosts).where(eq(hypervisorHosts.name, `other-${suffix}`))).toEqual([]);
  });

  it("marks a host down when its sshd stops, and up again when it is back; draining is kept apart", async () => {
    const host = pool[1]!;
    await setHostMode(names[1]!, "draining", actor);
    const sshdPid = readFileSync(host.sshdPidFile, "utf8").trim();
    process.kill(Number(sshdPid), "SIGTERM");
    closeHostConnection((await row(names[1]!)).id);
    try {
      expect(await checkHostHealth(await row(names[1]!))).toBe("down");
      expect((await row(names[1]!)).problem).toMatch(/Cannot connect to .* over SSH/);
    } finally {
      execFileSync("ip", ["netns", "exec", host.netns, "/usr/sbin/sshd", "-f", host.sshdConfig, "-E", host.sshdConfig.replace(/sshd_config$/, "sshd.log")]);
    }
    await expect.poll(async () => checkHostHealth(await row(names[1]!)), { timeout: 10_000 }).toBe("draining");
    await setHostMode(names[1]!, "enabled", actor);
    expect(await checkHostHealth(await row(names[1]!))).toBe("enabled");
  }, 60_000);
});
