// The hypervisor pool and VM sessions against real hosts: the two network-namespace hosts that
// scripts/test-pool.sh starts (npm test passes their description in TEST_POOL), each a real
// sshd in front of a real libvirt. One file, so that nothing else changes the pool meanwhile.
import { execFileSync, spawn } from "node:child_process";
import { randomUUID } from "node:crypto";
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync } from "node:fs";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import path from "node:path";
import { and, desc, eq, inArray, notInArray } from "drizzle-orm";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { db } from "@/db/client";
import { appSettings, auditEvents, hypervisorHosts, images, sessions, users, type HypervisorHost, type Session } from "@/db/schema";
import { ConflictError, InvalidInputError, NotFoundError } from "@/server/errors";
import { imageFileName, storePath } from "@/server/images/store";
import { createMachine } from "@/server/machines/machines";
import { finishSession } from "@/server/sessions/session-jobs";
import { reconcileHost } from "@/server/sessions/reconcile";
import { startSession } from "@/server/sessions/session-jobs";
import { serialLogName } from "@/server/sessions/start-session";
import { inImage } from "@/server/testing/image-files";
import { createTestUser } from "@/server/testing/accounts";
import { discardHostSessions } from "@/server/testing/discard-host-sessions";
import { addFixtureImage } from "@/server/testing/fixture-image";
import { screenshotVm } from "@/server/testing/vm-screenshot";
import { getVmNetwork, setVmNetwork } from "@/server/settings/vm-network";
import { sessionDomainXml } from "@/server/sessions/domain-xml";
import { domainCreate, domainDestroy, listDomains } from "./domain";
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
/** Users made here, deleted at the end with their machines, images and sessions. */
const madeUsers: string[] = [];
const SCREENSHOTS = path.resolve(import.meta.dirname, "../../e2e/screenshots");
mkdirSync(SCREENSHOTS, { recursive: true });

/** Starts a pool host's sshd again, as scripts/test-pool.sh did (under the subreaper tini). */
function startSshd(host: PoolHost) {
  rmSync(host.sshdPidFile, { force: true });
  const log = host.sshdConfig.replace(/sshd_config$/, "sshd.log");
  spawn("ip", ["netns", "exec", host.netns, "tini", "-s", "--", "/usr/sbin/sshd", "-D", "-f", host.sshdConfig, "-E", log], { detached: true, stdio: "ignore" }).unref();
}

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
  // A failed test may leave VMs: discard them, so that the hosts can be removed (a stale record
  // of a pool host would refuse the end-to-end tests' registration of it).
  await discardHostSessions(names);
  for (const name of names) await removeHost(name, actor);
  closeAllHostConnections();
  // The images saved here would wait for inspection by the end-to-end tests' server.
  await db().delete(users).where(inArray(users.id, madeUsers));
}, 120_000);

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

  it("refuses to add a libvirt that is in the pool already, under another name", async () => {
    const again = addHost({ name: `again-${suffix}`, ssh: pool[0]!.ssh, privateKey: readFileSync(pool[0]!.key, "utf8"), libvirtUri: pool[0]!.libvirtUri }, actor);
    await expect(again).rejects.toBeInstanceOf(ConflictError);
    await expect(again).rejects.toThrow(`is already in the pool as “${names[0]}”`);
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
      startSshd(host);
    }
    await expect.poll(async () => checkHostHealth(await row(names[1]!)), { timeout: 10_000 }).toBe("draining");
    await setHostMode(names[1]!, "enabled", actor);
    expect(await checkHostHealth(await row(names[1]!))).toBe("enabled");
  }, 60_000);
});

/** Linux key names for virsh send-key (pressed together), for the few characters typed here. */
function keysFor(char: string): string[] {
  if (/^[a-z0-9]$/.test(char)) return [`KEY_${char.toUpperCase()}`];
  if (/^[A-Z]$/.test(char)) return ["KEY_LEFTSHIFT", `KEY_${char}`];
  const names: Record<string, string[]> = {
    " ": ["KEY_SPACE"],
    "/": ["KEY_SLASH"],
    "-": ["KEY_MINUS"],
    ".": ["KEY_DOT"],
    ";": ["KEY_SEMICOLON"],
    ":": ["KEY_LEFTSHIFT", "KEY_SEMICOLON"],
    "\n": ["KEY_ENTER"],
  };
  return names[char] ?? (() => { throw new Error(`no key for ${JSON.stringify(char)}`); })();
}

/** Types `text` on the VM's console (its VGA screen, where the fixture runs a root shell). */
async function typeOnConsole(host: HypervisorHost, sessionId: string, text: string) {
  for (const char of text) await virsh(host, ["send-key", `twinboot-${sessionId}`, ...keysFor(char)]);
}

/** Waits for the fixture's shell on the VM's console: the ready line in its serial log, and a moment. */
async function guestReady(machineId: string, sessionId: string) {
  const log = storePath(serialLogName(machineId, sessionId));
  await vi.waitFor(() => expect(readFileSync(log, "utf8")).toContain("twinboot-fixture: ready"), { timeout: 180_000, interval: 1000 });
  await new Promise((resolve) => setTimeout(resolve, 3000));
}

async function hostOf(session: Session): Promise<HypervisorHost> {
  const [host] = await db().select().from(hypervisorHosts).where(eq(hypervisorHosts.id, session.hostId!));
  return host!;
}

async function guestFileExists(image: string, file: string): Promise<boolean> {
  return (await inImage(image, ["is-file", file])).trim() === "true";
}

describe("another Twinboot on the same libvirt", () => {
  it("keeps its VMs: a domain with no disk in this image store is no stray of ours", async () => {
    const host = await row(names[0]!);
    const id = randomUUID();
    // Its files as the host's own user makes them, outside this installation's store.
    const dir = `/tmp/twinboot-foreign-${id}`;
    const run = async (...argv: string[]) => expect((await runOnHost(host, argv)).code).toBe(0);
    await run("mkdir", dir);
    await run("qemu-img", "create", "-q", "-f", "qcow2", `${dir}/disk.qcow2`, "16M");
    const xml = sessionDomainXml({
      sessionId: id,
      title: "Another installation's session",
      firmware: "bios",
      vmType: "compatible",
      size: { cpus: 1, memoryBytes: 128 * 2 ** 20 },
      kvm: false,
      diskPath: `${dir}/disk.qcow2`,
      vncSocketPath: `${dir}/vnc.sock`,
      uefiVarsPath: `${dir}/vars.fd`,
      serialLogPath: `${dir}/serial.log`,
      network: "none",
    });
    try {
      await domainCreate({ host, xml });
      const changes = await reconcileHost(host, { shutdownTimeoutMs: 1000 });
      expect(changes.filter((change) => change.includes(id))).toEqual([]);
      expect(await listDomains({ host })).toContain(`twinboot-${id}`);
    } finally {
      await domainDestroy({ host, name: `twinboot-${id}` }).catch(() => undefined);
      await run("rm", "-rf", dir);
    }
  }, 120_000);
});

describe("sessions on the pool", () => {
  let owner: Awaited<ReturnType<typeof createTestUser>>;
  let machineId: string;
  let baseId: string;

  beforeAll(async () => {
    owner = await createTestUser();
    madeUsers.push(owner.id);
    ({ machine: { id: machineId } } = await createMachine({ ownerId: owner.id, name: "Office PC" }, undefined, false));
    baseId = await addFixtureImage(machineId);
  }, 600_000);

  it("boots an image at once on a pool host, takes keyboard input, and saves it as an incremental", async () => {
    const { session, done } = await startSession({ userId: owner.id, imageId: baseId, vmType: "compatible" });
    expect(session.state).toBe("requested");
    const running = await done();
    expect(running, running.problem ?? "").toMatchObject({ state: "running", cpus: 1, memoryBytes: 1024 ** 3 });
    expect(names).toContain((await hostOf(running)).name);
    // No copy: the overlay is small and backed by the image.
    const overlay = JSON.parse(execFileSync("qemu-img", ["info", "-U", "--output=json", storePath(running.overlayFile!)], { encoding: "utf8" }));
    expect(overlay["backing-filename"]).toBe(`${baseId}.qcow2`);
    expect(overlay["actual-size"]).toBeLessThan(4 * 1024 ** 2);
    // VNC is a UNIX socket in the machine's folder, not a TCP port.
    const xml = await virsh(await hostOf(running), ["dumpxml", `twinboot-${running.id}`]);
    expect(xml).toMatch(/<graphics type='vnc' socket='[^']+\/\.vnc\/[0-9a-f-]{36}\.sock'/);
    expect(xml).not.toMatch(/<graphics[^>]*port=/);

    await guestReady(machineId, running.id);
    const host = await hostOf(running);
    await typeOnConsole(host, running.id, "touch /home/alice/from-session; sync\n");
    await new Promise((resolve) => setTimeout(resolve, 5000));
    // The guest's VGA console, through virsh over SSH: the shell and the command typed into it.
    const screen = await screenshotVm(host, running.id, path.join(SCREENSHOTS, "vm-console-shell.png"));
    expect(screen).toMatchObject({ width: 720, height: 400 });
    expect(screen.colours).toBeGreaterThan(1);

    const finishing = await finishSession({ userId: owner.id, sessionId: running.id, mode: "incremental", shutdownTimeoutMs: 5000 });
    expect(finishing.session.state).toBe("stopping");
    const saved = await finishing.done();
    expect(saved, saved.problem ?? "").toMatchObject({ state: "saved", savedImageId: running.id });
    const [image] = await db().select().from(images).where(eq(images.id, saved.savedImageId!));
    expect(image).toMatchObject({ parentId: baseId, kind: "incremental", origin: "session", machineId });
    expect(existsSync(storePath(running.overlayFile!))).toBe(false);
    expect(statSync(storePath(image!.file)).mode & 0o777).toBe(0o444);
    expect(await guestFileExists(storePath(image!.file), "/home/alice/from-session")).toBe(true);
    expect(await guestFileExists(storePath(imageFileName(machineId, baseId)), "/home/alice/from-session")).toBe(false);
    expect(await listDomains({ host })).not.toContain(`twinboot-${running.id}`);
  }, 600_000);

  it("flattens into an independent image with the same content, and discards leaving nothing behind", async () => {
    const [incremental] = await db().select().from(images).where(and(eq(images.machineId, machineId), eq(images.kind, "incremental")));
    const independent = await startSession({ userId: owner.id, imageId: incremental!.id, vmType: "fast" });
    expect((await independent.done()).state).toBe("running");
    const flattened = await (await finishSession({ userId: owner.id, sessionId: independent.session.id, mode: "independent", shutdownTimeoutMs: 1000 })).done();
    expect(flattened, flattened.problem ?? "").toMatchObject({ state: "saved" });
    const [image] = await db().select().from(images).where(eq(images.id, flattened.savedImageId!));
    expect(image).toMatchObject({ kind: "independent", parentId: null, origin: "session" });
    const info = JSON.parse(execFileSync("qemu-img", ["info", "--output=json", storePath(image!.file)], { encoding: "utf8" }));
    expect(info["backing-filename"]).toBeUndefined();
    expect(await guestFileExists(storePath(image!.file), "/home/alice/from-session")).toBe(true);

    const before = readdirSync(storePath(machineId)).sort();
    const discarded = await startSession({ userId: owner.id, imageId: baseId, vmType: "compatible" });
    expect((await discarded.done()).state).toBe("running");
    const gone = await (await finishSession({ userId: owner.id, sessionId: discarded.session.id, mode: "discard", shutdownTimeoutMs: 1000 })).done();
    expect(gone.state).toBe("discarded");
    expect(readdirSync(storePath(machineId)).sort()).toEqual(before);
    expect((await db().select().from(images).where(eq(images.machineId, machineId))).length).toBe(3);
  }, 600_000);

  it("reconciles sessions with the hosts' domains after a restart, a lost VM or a lost host", async () => {
    const shutdown = { shutdownTimeoutMs: 1000 };
    // A VM that disappeared (its host rebooted): failed, its overlay kept, and it can be saved.
    const gone = await (await startSession({ userId: owner.id, imageId: baseId, vmType: "compatible" })).done();
    expect(gone.state).toBe("running");
    await domainDestroy({ host: await hostOf(gone), name: `twinboot-${gone.id}` });
    await reconcileHost(await hostOf(gone), shutdown);
    const [failed] = await db().select().from(sessions).where(eq(sessions.id, gone.id));
    expect(failed).toMatchObject({ state: "failed", problem: expect.stringMatching(/VM stopped while Twinboot was not watching/) });
    expect(existsSync(storePath(gone.overlayFile!))).toBe(true);
    expect((await (await finishSession({ userId: owner.id, sessionId: gone.id, mode: "incremental", ...shutdown })).done()).state).toBe("saved");

    // A domain whose session is over: destroyed, so it cannot write into anything.
    const stray = await (await startSession({ userId: owner.id, imageId: baseId, vmType: "compatible" })).done();
    await db().update(sessions).set({ state: "discarded" }).where(eq(sessions.id, stray.id));
    const changes = await reconcileHost(await hostOf(stray), shutdown);
    expect(changes).toContain(`domain twinboot-${stray.id}: no live session, destroyed`);
    expect(await listDomains({ host: await hostOf(stray) })).not.toContain(`twinboot-${stray.id}`);
    rmSync(storePath(stray.overlayFile!), { force: true });

    // A host that stops answering: its session is host_lost, then running again when it is back.
    const lost = await (await startSession({ userId: owner.id, imageId: baseId, vmType: "compatible" })).done();
    const host = await hostOf(lost);
    const entry = pool.find((p) => p.ssh.startsWith(`${host.sshUser}@${host.sshHost}`))!;
    process.kill(Number(readFileSync(entry.sshdPidFile, "utf8").trim()), "SIGTERM");
    closeHostConnection(host.id);
    try {
      await reconcileHost(host, shutdown);
      const [hostLost] = await db().select().from(sessions).where(eq(sessions.id, lost.id));
      expect(hostLost).toMatchObject({ state: "host_lost", problem: expect.stringMatching(/stopped answering.*save or discard/) });
      expect(existsSync(storePath(hostLost!.overlayFile!))).toBe(true);
      // Placement avoids the host while it is down.
      expect(await checkHostHealth(host)).toBe("down");
      const elsewhere = await (await startSession({ userId: owner.id, imageId: baseId, vmType: "compatible" })).done();
      expect(elsewhere.state).toBe("running");
      expect(elsewhere.hostId).not.toBe(host.id);
      expect((await (await finishSession({ userId: owner.id, sessionId: elsewhere.id, mode: "discard", ...shutdown })).done()).state).toBe("discarded");
    } finally {
      startSshd(entry);
    }
    await vi.waitFor(async () => {
      closeHostConnection(host.id);
      await reconcileHost(host, shutdown);
      const [back] = await db().select().from(sessions).where(eq(sessions.id, lost.id));
      expect(back!.state).toBe("running");
    }, { timeout: 15_000, interval: 500 });
    expect((await (await finishSession({ userId: owner.id, sessionId: lost.id, mode: "discard", ...shutdown })).done()).state).toBe("discarded");
  }, 300_000);

  it("puts two sessions on different hosts when one host has room for only one", async () => {
    const shutdown = { shutdownTimeoutMs: 1000 };
    // A machine that asks for 4 GiB, on hosts with 6 GiB each (1 GiB of it kept for the host).
    const { machine } = await createMachine({ ownerId: owner.id, name: "Big PC" }, undefined, false);
    const bigId = await addFixtureImage(machine.id);
    const [big] = await db().select().from(images).where(eq(images.id, bigId));
    await db().update(images).set({ profile: { ...(big!.profile as object), memoryBytes: 4 * 1024 ** 3 } }).where(eq(images.id, bigId));
    for (const name of names) expect(await checkHostHealth(await row(name))).toBe("enabled");
    const hostIds = await Promise.all(names.map(async (name) => (await row(name)).id));
    const others = await db().select().from(hypervisorHosts).where(notInArray(hypervisorHosts.id, hostIds));
    await db().update(hypervisorHosts).set({ memoryBytes: 6 * 1024 ** 3 }).where(inArray(hypervisorHosts.id, hostIds));
    await db().update(hypervisorHosts).set({ mode: "draining" }).where(notInArray(hypervisorHosts.id, hostIds)); // hosts of other tests, if any
    try {
      const first = await (await startSession({ userId: owner.id, imageId: bigId, vmType: "compatible" })).done();
      const second = await (await startSession({ userId: owner.id, imageId: bigId, vmType: "compatible" })).done();
      expect([first.state, second.state]).toEqual(["running", "running"]);
      expect(first.memoryBytes).toBe(4 * 1024 ** 3);
      expect(new Set([first.hostId, second.hostId])).toEqual(new Set(hostIds));
      const third = await (await startSession({ userId: owner.id, imageId: bigId, vmType: "compatible" })).done();
      expect(third).toMatchObject({ state: "failed", problem: expect.stringMatching(/^No hypervisor host has room for a VM of 1 vCPU\(s\) and 4 GiB/) });
      for (const session of [first, second]) {
        expect((await (await finishSession({ userId: owner.id, sessionId: session.id, mode: "discard", ...shutdown })).done()).state).toBe("discarded");
      }
    } finally {
      for (const other of others) await db().update(hypervisorHosts).set({ mode: other.mode }).where(eq(hypervisorHosts.id, other.id));
      for (const name of names) await checkHostHealth(await row(name));
    }
  }, 300_000);

  it("gives VMs no network by default, and an isolated NAT of their own when the admin enables it", async () => {
    const plain = await (await startSession({ userId: owner.id, imageId: baseId, vmType: "compatible" })).done();
    expect(plain.network).toBe("none");
    expect(await virsh(await hostOf(plain), ["domiflist", `twinboot-${plain.id}`])).not.toMatch(/user|network|bridge/);
    await (await finishSession({ userId: owner.id, sessionId: plain.id, mode: "discard", shutdownTimeoutMs: 1000 })).done();

    // A web server on this machine, reached from the guest the way the internet would be: out
    // through the NAT, from the host's own network (its veth, 10.77.N.1 as the host sees it).
    const requests: string[] = [];
    const web = createServer((req, res) => {
      requests.push(req.url ?? "");
      res.end("hello from outside\n");
    });
    await new Promise<void>((resolve) => web.listen(0, "0.0.0.0", resolve));
    const port = (web.address() as AddressInfo).port;
    // The setting: one row, each change audited (only this file starts VMs, so none races it).
    await setVmNetwork("nat", actor);
    await setVmNetwork("nat", actor);
    expect(await getVmNetwork()).toBe("nat");
    expect(await db().select().from(appSettings)).toHaveLength(1);
    const [audited] = await db().select().from(auditEvents).where(eq(auditEvents.action, "vm_network_changed")).orderBy(desc(auditEvents.at)).limit(1);
    expect(audited!.detail).toEqual({ vmNetwork: "nat" });
    try {
      const running = await (await startSession({ userId: owner.id, imageId: baseId, vmType: "compatible" })).done();
      expect(running).toMatchObject({ state: "running", network: "nat" });
      const host = await hostOf(running);
      expect(await virsh(host, ["domiflist", `twinboot-${running.id}`])).toMatch(/user\s+-\s+e1000/);
      await guestReady(machineId, running.id);
      const outside = host.sshHost.replace(/\.2$/, ".1");
      await typeOnConsole(host, running.id, "ip link set eth0 up; ip addr add 10.0.2.15/24 dev eth0; ip route add default via 10.0.2.2\n");
      await typeOnConsole(host, running.id, `wget -q -O /root/from-net http://${outside}:${port}/hello; sync\n`);
      await vi.waitFor(() => expect(requests).toContain("/hello"), { timeout: 30_000, interval: 500 }).finally(() =>
        screenshotVm(host, running.id, path.join(SCREENSHOTS, "vm-console-nat.png")),
      );
      const saved = await (await finishSession({ userId: owner.id, sessionId: running.id, mode: "incremental", shutdownTimeoutMs: 5000 })).done();
      expect(saved.state).toBe("saved");
      expect((await inImage(storePath(imageFileName(machineId, saved.savedImageId!)), ["cat", "/root/from-net"])).trimEnd()).toBe("hello from outside");
    } finally {
      await setVmNetwork("none", actor);
      web.close();
    }
  }, 400_000);

  it("finishes only the user's own sessions", async () => {
    const stranger = await createTestUser();
    const [any] = await db().select().from(sessions).where(eq(sessions.userId, owner.id)).limit(1);
    await expect(finishSession({ userId: stranger.id, sessionId: any!.id, mode: "discard", shutdownTimeoutMs: 1000 })).rejects.toBeInstanceOf(NotFoundError);
    await expect(startSession({ userId: stranger.id, imageId: baseId, vmType: "compatible" })).rejects.toBeInstanceOf(NotFoundError);
  });
});
