// Starting a session: a qcow2 overlay on the chosen image — made on the host, in the machine's
// folder, with the image as its backing file, so nothing is copied — and a transient libvirt
// domain on the host that placement chose. The request returns at once with the session
// `requested`; provisioning continues in the background and the UI follows the state.
import { and, eq, inArray, sql } from "drizzle-orm";
import { db } from "@/db/client";
import { hypervisorHosts, images, machines, sessions, type HypervisorHost, type Session } from "@/db/schema";
import { NotFoundError } from "@/server/errors";
import { overlayCreateArgs } from "@/server/images/qcow2";
import { ensureStoreDir, imageFileName, storePath } from "@/server/images/store";
import { placeVm, type HostLoad } from "@/server/pool/placement";
import { runOnHost } from "@/server/pool/host-connections";
import { virsh } from "@/server/pool/virsh";
import { getVmNetwork } from "@/server/settings/vm-network";
import { ZMachineProfileSchema } from "@/wire/agent";
import { sessionDomainXml, sessionVmSize, type VmType } from "./domain-xml";
import { liveSessionStates } from "@/wire/enums";
import { moveSession } from "./session-state";

const GiB = 1024 ** 3;
/** The most one session may take, whatever the source machine had. */
export const SESSION_LIMIT = { cpus: 4, memoryBytes: 4 * GiB };

export function overlayFileName(machineId: string, sessionId: string): string {
  return `${machineId}/.session-${sessionId}.qcow2`;
}

/** VNC sockets live apart from the machine folders: a UNIX socket path is at most 107 bytes. */
export const VNC_SOCKET_DIR = ".vnc";
/** sockaddr_un.sun_path holds 108 bytes including the terminating NUL. */
const MAX_SOCKET_PATH_BYTES = 107;

export function vncSocketName(sessionId: string): string {
  return `${VNC_SOCKET_DIR}/${sessionId}.sock`;
}

export function serialLogName(machineId: string, sessionId: string): string {
  return `${machineId}/.session-${sessionId}.log`;
}

async function hostLoads(): Promise<(HostLoad & { host: HypervisorHost })[]> {
  const hosts = await db().select().from(hypervisorHosts);
  const used = await db()
    .select({
      hostId: sessions.hostId,
      cpus: sql<number>`coalesce(sum(${sessions.cpus}), 0)::int`,
      memoryBytes: sql<number>`coalesce(sum(${sessions.memoryBytes}), 0)::bigint`,
    })
    .from(sessions)
    .where(inArray(sessions.state, [...liveSessionStates]))
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

/** Places, creates the overlay and the domain; the session ends `running`, or `failed` with the reason. */
async function provision(session: Session, image: { file: string; profile: unknown; machineName: string; takenAt: Date }): Promise<Session> {
  const profile = ZMachineProfileSchema.safeParse(image.profile);
  const size = sessionVmSize(profile.success ? profile.data : { cpus: 2, memoryBytes: 2 * GiB }, SESSION_LIMIT);
  const placed = placeVm(await hostLoads(), size);
  if (!placed) {
    return moveSession(session.id, "failed", {
      problem: `No hypervisor host has room for a VM of ${size.cpus} vCPU(s) and ${size.memoryBytes / GiB} GiB right now. Try again in a while, or ask an administrator to add a host.`,
      endedAt: new Date(),
    });
  }
  const { host } = placed;
  const overlayFile = overlayFileName(session.machineId, session.id);
  await ensureStoreDir(VNC_SOCKET_DIR);
  const vncSocketPath = storePath(vncSocketName(session.id));
  if (Buffer.byteLength(vncSocketPath) > MAX_SOCKET_PATH_BYTES) {
    return moveSession(session.id, "failed", {
      problem: `The VM's screen socket ${vncSocketPath} would be longer than ${MAX_SOCKET_PATH_BYTES} bytes: ask the administrator for a shorter IMAGE_STORE_DIR.`,
      endedAt: new Date(),
    });
  }
  const network = await getVmNetwork();
  await moveSession(session.id, "provisioning", { hostId: host.id, cpus: size.cpus, memoryBytes: size.memoryBytes, overlayFile, vncSocketPath, network });
  try {
    // Made by the host's own user, so its QEMU owns what it writes; the backing file is named
    // relative to the folder both share.
    const overlayPath = storePath(overlayFile);
    const backingPath = storePath(imageFileName(session.machineId, session.imageId));
    const created = await runOnHost(host, ["qemu-img", ...overlayCreateArgs({ file: overlayPath, backingFile: backingPath })]);
    if (created.code !== 0) throw new Error(`qemu-img create on host ${host.name} failed: ${created.stderr.trim()}`);
    const domain = sessionDomainXml({
      sessionId: session.id,
      title: `Twinboot session of ${image.machineName} (${image.takenAt.toISOString()})`,
      firmware: profile.success ? profile.data.firmware : "bios",
      vmType: session.vmType,
      size,
      kvm: host.kvm,
      diskPath: storePath(overlayFile),
      vncSocketPath,
      serialLogPath: storePath(serialLogName(session.machineId, session.id)),
      network,
    });
    await virsh(host, ["create", "/dev/stdin"], { stdin: domain });
    return await moveSession(session.id, "running", { runningAt: new Date() });
  } catch (error) {
    return moveSession(session.id, "failed", {
      problem: `The VM could not be started on ${host.name}: ${error instanceof Error ? error.message : String(error)}`,
      endedAt: new Date(),
    });
  }
}

/**
 * Starts a session from one of the user's images. Resolves once the session is recorded; `done`
 * settles when provisioning has ended (running or failed), for callers that wait.
 */
export async function startSession(input: { userId: string; imageId: string; vmType: VmType }): Promise<{ session: Session; done: Promise<Session> }> {
  const [image] = await db()
    .select({ id: images.id, machineId: images.machineId, file: images.file, profile: images.profile, takenAt: images.takenAt, machineName: machines.name })
    .from(images)
    .innerJoin(machines, eq(machines.id, images.machineId))
    .where(and(eq(images.id, input.imageId), eq(machines.ownerId, input.userId)));
  if (!image) throw new NotFoundError("No such image. It may have been deleted.");
  const [session] = await db()
    .insert(sessions)
    .values({ userId: input.userId, machineId: image.machineId, imageId: image.id, vmType: input.vmType })
    .returning();
  const done = provision(session!, image);
  done.catch((error: unknown) => console.error(`Provisioning session ${session!.id} failed:`, error));
  return { session: session!, done };
}
