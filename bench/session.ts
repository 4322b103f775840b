// Benchmark: starting a session from images of 1 GiB and 16 GiB filled with non-zero data, from
// the start request until the VM's VNC socket answers (the RFB greeting, read through an SSH
// streamlocal channel on the host's pooled connection, as the console relay will); the guest's
// own boot is excluded. Side by side, "restore then boot": a full `qemu-img convert` of the same
// chain on the host, then the same domain on the copy, until its VNC answers. Then saving a
// session that changed 10 MiB: as an incremental (the overlay becomes the image) vs as
// independent (the chain flattened). Run: npm run bench -- session. The last line is one JSON
// object.
//
// Every contender starts with the page cache dropped (the images on disk, not in memory); starts
// are the median of five runs, alternating sizes.
//
// The host is one network-namespace host of scripts/test-pool.sh (numbered 9, apart from the
// tests' pool), a real sshd in front of a real libvirt; TCG here (no nested KVM), which does not
// change what is measured: the VM does not need to boot.
import { execFileSync } from "node:child_process";
import { randomUUID } from "node:crypto";
import { chmodSync, rmSync, statSync, writeFileSync } from "node:fs";
import { eq } from "drizzle-orm";
import { closeDb, db } from "@/db/client";
import { hypervisorHosts, type HypervisorHost } from "@/db/schema";
import { ensureMachineDir, imageFileName, storePath } from "@/server/images/store";
import { createMachine } from "@/server/machines/machines";
import { domainCreate, domainDestroy, domainMonitorCommand } from "@/server/pool/domain";
import { connectionTo } from "@/server/pool/host-connections";
import { imageConvertOnHost } from "@/server/pool/host-image";
import { domainName, sessionDomainXml } from "@/server/sessions/domain-xml";
import { finishSession } from "@/server/sessions/session-jobs";
import { startSession } from "@/server/sessions/session-jobs";
import { vncSocketName } from "@/server/sessions/start-session";
import { createTestUser } from "@/server/testing/accounts";
import { recordBaseImage } from "@/server/testing/fixture-image";
import { RfbProbe } from "@/server/testing/rfb-probe";
import { setUpBenchHost } from "./bench-pool";

const GiB = 1024 ** 3;
const MiB = 1024 ** 2;
const SIZES_GIB = [1, 16] as const;
const REPEATS = 5;

const log = (line: string) => console.log(line);
const now = () => Number(process.hrtime.bigint()) / 1e9;
const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;
const round = (value: number, digits = 3) => Number(value.toFixed(digits));

/**
 * Every contender starts with its disks out of memory, as a server's many images mostly are:
 * written back (sync), then the page cache dropped. Where the kernel does not allow dropping it,
 * only sync, and the result says so.
 */
let coldCache = true;
function startCold() {
  execFileSync("sync");
  try {
    writeFileSync("/proc/sys/vm/drop_caches", "3");
  } catch {
    coldCache = false;
  }
}

/** Waits until the VNC server on the host's UNIX socket sends its RFB greeting. */
async function vncAnswers(host: HypervisorHost, socketPath: string): Promise<void> {
  for (const deadline = Date.now() + 60_000; Date.now() < deadline; ) {
    try {
      const vnc = RfbProbe.overSocket(await (await connectionTo(host)).openUnixSocket(socketPath));
      const greeting = await vnc.greeting();
      await vnc.close();
      if (greeting.startsWith("RFB ")) return;
    } catch {
      // Not listening yet.
    }
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  throw new Error(`VNC on ${socketPath} did not answer within 60 s`);
}

/** A base image of `gib` GiB, every cluster written with a non-zero pattern (nothing sparse). */
async function addFilledImage(machineId: string, gib: number): Promise<string> {
  const imageId = randomUUID();
  const file = imageFileName(machineId, imageId);
  execFileSync("qemu-img", ["create", "-q", "-f", "qcow2", storePath(file), `${gib}G`]);
  const writes = Array.from({ length: gib }, (_, i) => ["-c", `write -q -P ${0x11 + (i % 200)} ${i}G 1G`]).flat();
  execFileSync("qemu-io", ["-f", "qcow2", ...writes, storePath(file)]);
  chmodSync(storePath(file), 0o444);
  await recordBaseImage({ machineId, imageId, file, virtualSize: gib * GiB, bytesStored: statSync(storePath(file)).size });
  return imageId;
}

async function hostOf(hostId: string | null): Promise<HypervisorHost> {
  const [host] = await db().select().from(hypervisorHosts).where(eq(hypervisorHosts.id, hostId!));
  return host!;
}

/** Ours: start request → running → VNC answers. The session is discarded afterwards (not timed). */
async function timeStart(userId: string, imageId: string): Promise<{ seconds: number; overlayBytes: number }> {
  startCold();
  const started = now();
  const { done } = await startSession({ userId, imageId, vmType: "compatible" });
  const running = await done();
  if (running.state !== "running") throw new Error(`the session did not start: ${running.problem}`);
  const host = await hostOf(running.hostId);
  await vncAnswers(host, running.vncSocketPath!);
  const seconds = now() - started;
  const overlayBytes = statSync(storePath(running.overlayFile!)).size;
  await (await finishSession({ userId, sessionId: running.id, mode: "discard", shutdownTimeoutMs: 0 })).done();
  return { seconds, overlayBytes };
}

/** The peer: a full copy of the chain on the host (qemu-img convert), then the same domain on the copy → VNC answers. */
async function timeRestore(host: HypervisorHost, machineId: string, imageId: string): Promise<{ seconds: number; convertSeconds: number }> {
  const id = randomUUID();
  const restored = storePath(`${machineId}/.restore-${id}.qcow2`);
  const socket = storePath(vncSocketName(id));
  // Named apart from sessions' domains, so that reconciliation leaves it alone.
  const name = `bench-restore-${id}`;
  const xml = sessionDomainXml({
    sessionId: id,
    title: "restore then boot",
    firmware: "bios",
    vmType: "compatible",
    size: { cpus: 1, memoryBytes: GiB },
    kvm: host.kvm,
    diskPath: restored,
    vncSocketPath: socket,
    serialLogPath: storePath(`${machineId}/.restore-${id}.log`),
    uefiVarsPath: storePath(`${machineId}/.restore-${id}.vars.fd`),
    network: "none",
  }).replace(`<name>${domainName(id)}</name>`, `<name>${name}</name>`);
  startCold();
  const started = now();
  await imageConvertOnHost({ host, source: storePath(imageFileName(machineId, imageId)), file: restored, timeoutMs: 3_600_000 });
  const convertSeconds = now() - started;
  await domainCreate({ host, xml });
  await vncAnswers(host, socket);
  const seconds = now() - started;
  await domainDestroy({ host, name });
  rmSync(restored, { force: true });
  rmSync(socket, { force: true });
  rmSync(storePath(`${machineId}/.restore-${id}.log`), { force: true });
  return { seconds, convertSeconds };
}

/** A running session whose VM wrote 10 MiB to its disk, finished with `mode`: request → saved. */
async function timeSave(userId: string, imageId: string, mode: "incremental" | "independent"): Promise<number> {
  const running = await (await startSession({ userId, imageId, vmType: "compatible" })).done();
  if (running.state !== "running") throw new Error(`the session did not start: ${running.problem}`);
  const host = await hostOf(running.hostId);
  const domain = domainName(running.id);
  // The guest here does not boot; QEMU's own block layer writes for it, into the overlay.
  const blocks = JSON.parse(await domainMonitorCommand({ host, name: domain, command: '{"execute":"query-block"}' })) as { return: { inserted?: { "node-name": string } }[] };
  const node = blocks.return.find((b) => b.inserted)!.inserted!["node-name"];
  await domainMonitorCommand({ host, name: domain, command: `qemu-io ${node} "write -P 0xcd 1G 10M"`, hmp: true });
  startCold();
  const started = now();
  const saved = await (await finishSession({ userId, sessionId: running.id, mode, shutdownTimeoutMs: 0 })).done();
  const seconds = now() - started;
  if (saved.state !== "saved") throw new Error(`saving failed: ${saved.problem}`);
  return seconds;
}

async function main() {
  const { host: hostRecord, tearDown } = await setUpBenchHost();
  try {
    const owner = await createTestUser();
    const { machine } = await createMachine({ ownerId: owner.id, name: "bench" }, undefined, false);
    await ensureMachineDir(machine.id);
    const imageIds: Record<number, string> = {};
    for (const gib of SIZES_GIB) {
      log(`Writing a ${gib} GiB image of non-zero data…`);
      imageIds[gib] = await addFilledImage(machine.id, gib);
    }

    const start: Record<number, number[]> = { 1: [], 16: [] };
    const restore: Record<number, number[]> = { 1: [], 16: [] };
    const convert: Record<number, number[]> = { 1: [], 16: [] };
    let overlayBytes = 0;
    for (let i = 0; i < REPEATS; i++) {
      for (const gib of SIZES_GIB) {
        const ours = await timeStart(owner.id, imageIds[gib]!);
        start[gib]!.push(ours.seconds);
        overlayBytes = Math.max(overlayBytes, ours.overlayBytes);
        log(`start ${gib} GiB: ${ours.seconds.toFixed(3)} s (overlay ${(ours.overlayBytes / MiB).toFixed(2)} MiB)`);
      }
    }
    for (const gib of SIZES_GIB) {
      const peer = await timeRestore(hostRecord, machine.id, imageIds[gib]!);
      restore[gib]!.push(peer.seconds);
      convert[gib]!.push(peer.convertSeconds);
      log(`restore then boot ${gib} GiB: ${peer.seconds.toFixed(3)} s (convert ${peer.convertSeconds.toFixed(3)} s)`);
    }
    const saveIncremental = await timeSave(owner.id, imageIds[16]!, "incremental");
    log(`save as incremental (16 GiB image, 10 MiB changed): ${saveIncremental.toFixed(3)} s`);
    const saveIndependent = await timeSave(owner.id, imageIds[16]!, "independent");
    log(`save as independent (flatten 16 GiB + 10 MiB): ${saveIndependent.toFixed(3)} s`);

    const result = {
      start_1g_seconds: round(median(start[1]!)),
      start_16g_seconds: round(median(start[16]!)),
      start_runs: REPEATS,
      cold_cache: coldCache,
      overlay_bytes_max: overlayBytes,
      restore_1g_seconds: round(restore[1]![0]!),
      restore_16g_seconds: round(restore[16]![0]!),
      convert_1g_seconds: round(convert[1]![0]!),
      convert_16g_seconds: round(convert[16]![0]!),
      save_incremental_seconds: round(saveIncremental),
      save_independent_seconds: round(saveIndependent),
      start_16g_vs_1g: round(median(start[16]!) / median(start[1]!)),
      restore_16g_vs_1g: round(restore[16]![0]! / restore[1]![0]!),
      start_vs_restore_16g: round(median(start[16]!) / restore[16]![0]!, 4),
      save_incremental_vs_flatten: round(saveIncremental / saveIndependent, 4),
    };
    console.log(JSON.stringify(result));
  } finally {
    await tearDown();
    await closeDb();
  }
}

await main();
