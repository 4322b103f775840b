// Starting a session: a qcow2 overlay on the chosen image — made on the host, in the machine's
// folder, with the image as its backing file, so nothing is copied — and a transient libvirt
// domain on the host that placement chose. The request records the session `requested` and its
// provisioning job in one transaction and returns; the job (session-jobs.ts) does the rest, on
// whichever server claims it, and the UI follows the session's state.
import { and, eq, inArray, ne, sql } from "drizzle-orm";
import { db, type Transaction } from "@/db/client";
import { hypervisorHosts, images, machines, sessions, type HypervisorHost, type Session } from "@/db/schema";
import { NotFoundError } from "@/server/errors";
import { ensureStoreDir, imageFileName, MAX_SOCKET_PATH_BYTES, removeStoreFile, storePath } from "@/server/images/store";
import { placeVm, type HostLoad } from "@/server/pool/placement";
import { domainCreate, domainDestroy, listDomains } from "@/server/pool/domain";
import { overlayCreateOnHost } from "@/server/pool/host-image";
import { getVmNetwork } from "@/server/settings/vm-network";
import { ZMachineProfileSchema } from "@/wire/agent";
import { domainName, sessionDomainXml, sessionVmSize, type VmType } from "./domain-xml";
import { liveSessionStates, type VmFirmware } from "@/wire/enums";
import { presetFirmwareOf } from "@/wire/firmware";
import { moveSession } from "./session-state";

const GiB = 1024 ** 3;
/** The most one session may take, whatever the source machine had. */
export const SESSION_LIMIT = { cpus: 4, memoryBytes: 4 * GiB };

export function overlayFileName(machineId: string, sessionId: string): string {
  return `${machineId}/.session-${sessionId}.qcow2`;
}

/** VNC sockets live apart from the machine folders: a UNIX socket path is at most 107 bytes. */
export const VNC_SOCKET_DIR = ".vnc";

export function vncSocketName(sessionId: string): string {
  return `${VNC_SOCKET_DIR}/${sessionId}.sock`;
}

export function serialLogName(machineId: string, sessionId: string): string {
  return `${machineId}/.session-${sessionId}.log`;
}

export function uefiVarsName(machineId: string, sessionId: string): string {
  return `${machineId}/.session-${sessionId}.vars.fd`;
}

/** Every write of a job goes through its claim check (server/jobs): a write runs `work` in such a transaction. */
export type GuardedWrite = <T>(work: (tx: Transaction) => Promise<T>) => Promise<T>;

async function hostLoads(exceptSessionId: string): Promise<(HostLoad & { host: HypervisorHost })[]> {
  const hosts = await db().select().from(hypervisorHosts);
  const used = await db()
    .select({
      hostId: sessions.hostId,
      cpus: sql<number>`coalesce(sum(${sessions.cpus}), 0)::int`,
      memoryBytes: sql<number>`coalesce(sum(${sessions.memoryBytes}), 0)::bigint`,
    })
    .from(sessions)
    .where(and(inArray(sessions.state, [...liveSessionStates]), ne(sessions.id, exceptSessionId)))
    .groupBy(sessions.hostId);
  return hosts.map((host) => {
    const load = used.find((u) => u.hostId === host.id);
    return {
      host,
      id: host.id,
      mode: host.mode,
      reachable: host.reachable,
      cpus: host.cpus,
      memoryBytes: host.memoryBytes,
      usedCpus: load?.cpus ?? 0,
      usedMemoryBytes: Number(load?.memoryBytes ?? 0),
    };
  });
}

/**
 * What an earlier attempt that stopped mid-way left on its host: its VM, if it got as far as
 * starting it (then the session is simply running), else its overlay, removed — after making
 * sure no domain of the session runs there — so the next attempt starts clean on the same host
 * (never on another, where a late `virsh create` of the old attempt could not be seen).
 */
async function takeOverEarlierAttempt(session: Session, host: HypervisorHost | undefined): Promise<"running" | "clean"> {
  const name = domainName(session.id);
  if (host && (await listDomains({ host })).includes(name)) return "running";
  if (host) {
    await domainDestroy({ host, name }).catch(() => undefined);
    if ((await listDomains({ host })).includes(name)) return "running";
  }
  if (session.overlayFile) await removeStoreFile(session.overlayFile);
  return "clean";
}

/**
 * Places, creates the overlay and the domain; the session ends `running`, or `failed` when no
 * host can take it. Other failures throw, for the job to try again (on another host if need be).
 * Carried on from wherever an earlier attempt stopped.
 */
export async function provisionSession(sessionId: string, write: GuardedWrite): Promise<void> {
  const [found] = await db()
    .select({ session: sessions, profile: images.profile, takenAt: images.takenAt, machineName: machines.name })
    .from(sessions)
    .innerJoin(images, eq(images.id, sessions.imageId))
    .innerJoin(machines, eq(machines.id, sessions.machineId))
    .where(eq(sessions.id, sessionId));
  if (!found || (found.session.state !== "requested" && found.session.state !== "provisioning")) return; // gone, or carried through already
  const { session } = found;
  const [earlierHost] = session.hostId ? await db().select().from(hypervisorHosts).where(eq(hypervisorHosts.id, session.hostId)) : [];
  if (session.state === "provisioning" && (await takeOverEarlierAttempt(session, earlierHost)) === "running") {
    await write((tx) => moveSession(session.id, "running", { runningAt: new Date() }, { executor: tx }));
    return;
  }
  const profile = ZMachineProfileSchema.safeParse(found.profile);
  const size = sessionVmSize(profile.success ? profile.data : { cpus: 2, memoryBytes: 2 * GiB }, SESSION_LIMIT);
  const placed = earlierHost ? { host: earlierHost } : placeVm(await hostLoads(session.id), size);
  if (!placed) {
    await write((tx) =>
      moveSession(session.id, "failed", {
        problem: `No hypervisor host has room for a VM of ${size.cpus} vCPU(s) and ${size.memoryBytes / GiB} GiB right now. Try again in a while, or ask an administrator to add a host.`,
        endedAt: new Date(),
      }, { executor: tx }),
    );
    return;
  }
  const { host } = placed;
  const overlayFile = overlayFileName(session.machineId, session.id);
  await ensureStoreDir(VNC_SOCKET_DIR);
  const vncSocketPath = storePath(vncSocketName(session.id));
  if (Buffer.byteLength(vncSocketPath) > MAX_SOCKET_PATH_BYTES) {
    await write((tx) =>
      moveSession(session.id, "failed", {
        problem: `The VM's screen socket ${vncSocketPath} would be longer than ${MAX_SOCKET_PATH_BYTES} bytes: ask the administrator for a shorter IMAGE_STORE_DIR.`,
        endedAt: new Date(),
      }, { executor: tx }),
    );
    return;
  }
  const network = await getVmNetwork();
  await write((tx) =>
    moveSession(session.id, "provisioning", { hostId: host.id, cpus: size.cpus, memoryBytes: size.memoryBytes, overlayFile, vncSocketPath, network }, { executor: tx }),
  );
  try {
    // Made by the host's own user, so its QEMU owns what it writes; the backing file is named
    // relative to the folder both share.
    const overlayPath = storePath(overlayFile);
    const backingPath = storePath(imageFileName(session.machineId, session.imageId));
    await overlayCreateOnHost({ host, file: overlayPath, backingFile: backingPath });
    const domain = sessionDomainXml({
      sessionId: session.id,
      title: `Twinboot session of ${found.machineName} (${found.takenAt.toISOString()})`,
      firmware: session.firmware,
      vmType: session.vmType,
      size,
      kvm: host.kvm,
      diskPath: storePath(overlayFile),
      vncSocketPath,
      serialLogPath: storePath(serialLogName(session.machineId, session.id)),
      uefiVarsPath: storePath(uefiVarsName(session.machineId, session.id)),
      network,
    });
    await domainCreate({ host, xml: domain });
  } catch (error) {
    throw new Error(`The VM could not be started on ${host.name}: ${error instanceof Error ? error.message : String(error)}`, { cause: error });
  }
  await write((tx) => moveSession(session.id, "running", { runningAt: new Date() }, { executor: tx }));
}

/**
 * Records a session on one of the user's images, `requested`, with its provisioning job, in one
 * transaction. `enqueue` is the provisioning job's (session-jobs.ts), passed in so that this
 * module does not depend on the job runner.
 */
export async function recordSessionRequest(
  input: { userId: string; imageId: string; vmType: VmType; firmware?: VmFirmware },
  enqueue: (sessionId: string, tx: Transaction) => Promise<string>,
): Promise<{ session: Session; jobId: string }> {
  const [image] = await db()
    .select({ id: images.id, machineId: images.machineId, inspection: images.inspection, profile: images.profile })
    .from(images)
    .innerJoin(machines, eq(machines.id, images.machineId))
    .where(and(eq(images.id, input.imageId), eq(machines.ownerId, input.userId)));
  if (!image) throw new NotFoundError("No such image. It may have been deleted.");
  return db().transaction(async (tx) => {
    const [session] = await tx
      .insert(sessions)
      .values({ userId: input.userId, machineId: image.machineId, imageId: image.id, vmType: input.vmType, firmware: input.firmware ?? presetFirmwareOf(image).firmware })
      .returning();
    return { session: session!, jobId: await enqueue(session!.id, tx) };
  });
}
