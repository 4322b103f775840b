// The hypervisor pool's hosts: registered by an administrator (CLI or admin page), their SSH host
// key pinned at registration, capacity read from libvirt, KVM probed for real, health checked
// periodically. A host is enabled or draining by the admin's choice, and down when it stops answering.
import { and, asc, count, eq, inArray } from "drizzle-orm";
import { db } from "@/db/client";
import { hypervisorHosts, sessions, type HypervisorHost } from "@/db/schema";
import type { HostMode } from "@/wire/enums";
import { recordAudit } from "@/server/audit/record-audit";
import { sealSecret } from "@/server/auth/secret-box";
import { ConflictError, InvalidInputError, NotFoundError } from "@/server/errors";
import type { RequestMeta } from "@/server/request-meta";
import { liveSessionStates } from "@/wire/enums";
import { probeKvmOnHost } from "@/server/tools/kvm-probe";
import { closeHostConnection, parseSshTarget, PRIVATE_KEY_PURPOSE } from "./host-connections";
import { describeTarget, SshConnection, SshError, type SshTarget } from "./ssh-connection";
import { nodeCapacity, parseNodeInfo, virshArgv, VirshError } from "./virsh";

/** What an administrator sees of a host; never the private key. */
export const hostColumns = {
  id: hypervisorHosts.id,
  name: hypervisorHosts.name,
  sshHost: hypervisorHosts.sshHost,
  sshPort: hypervisorHosts.sshPort,
  sshUser: hypervisorHosts.sshUser,
  hostKeyFingerprint: hypervisorHosts.hostKeyFingerprint,
  libvirtUri: hypervisorHosts.libvirtUri,
  mode: hypervisorHosts.mode,
  reachable: hypervisorHosts.reachable,
  problem: hypervisorHosts.problem,
  checkedAt: hypervisorHosts.checkedAt,
  cpus: hypervisorHosts.cpus,
  memoryBytes: hypervisorHosts.memoryBytes,
  kvm: hypervisorHosts.kvm,
  createdAt: hypervisorHosts.createdAt,
};

export type HostState = "enabled" | "draining" | "down";

export function hostState(host: { mode: HostMode; reachable: boolean }): HostState {
  return host.reachable ? host.mode : "down";
}

async function probe(connection: SshConnection, libvirtUri: string) {
  const nodeinfo = await connection.exec(virshArgv(libvirtUri, ["nodeinfo"]));
  if (nodeinfo.code !== 0) {
    throw new VirshError({
      host: describeTarget(connection.target),
      command: "virsh nodeinfo",
      result: nodeinfo,
      hint: `Is libvirt installed and running there, and may this user use ${libvirtUri}?`,
    });
  }
  const capacity = parseNodeInfo(nodeinfo.stdout);
  // /dev/kvm can exist while nested KVM aborts: the probe boots a kernel under KVM for real.
  const kvm = await probeKvmOnHost(connection);
  return { ...capacity, kvm };
}

export async function listHosts() {
  return db().select(hostColumns).from(hypervisorHosts).orderBy(asc(hypervisorHosts.name));
}

async function hostByNameOrThrow(name: string): Promise<HypervisorHost> {
  const [host] = await db().select().from(hypervisorHosts).where(eq(hypervisorHosts.name, name));
  if (!host) throw new NotFoundError(`There is no hypervisor host called “${name}”.`);
  return host;
}

/**
 * Registers a host: connects once, pins the host key it presents, reads capacity and probes KVM
 * through that same connection, then stores the host (private key encrypted).
 */
export async function addHost(
  input: { name: string; ssh: string; privateKey: string; libvirtUri?: string; expectedFingerprint?: string },
  actor: { userId: string | null; meta?: RequestMeta; byUser?: boolean },
) {
  let target: Omit<SshTarget, "privateKey">;
  try {
    target = parseSshTarget(input.ssh);
  } catch (error) {
    throw new InvalidInputError(`${(error as Error).message} Give the SSH login as user@host or user@host:port.`);
  }
  const libvirtUri = input.libvirtUri ?? "qemu:///system";
  const [clash] = await db().select({ id: hypervisorHosts.id }).from(hypervisorHosts).where(eq(hypervisorHosts.name, input.name));
  if (clash) throw new ConflictError(`There is already a hypervisor host called “${input.name}”.`);

  let connection: SshConnection;
  try {
    connection = await SshConnection.connect({ ...target, privateKey: input.privateKey }, null);
  } catch (error) {
    if (error instanceof SshError) throw new InvalidInputError(error.message);
    throw error;
  }
  try {
    if (input.expectedFingerprint && input.expectedFingerprint !== connection.fingerprint) {
      throw new InvalidInputError(
        `${input.ssh} presented the host key ${connection.fingerprint}, not the expected ${input.expectedFingerprint}. Nothing was added.`,
      );
    }
    // One libvirt, one record: two would each take the other's VMs for strays.
    const [same] = await db()
      .select({ name: hypervisorHosts.name })
      .from(hypervisorHosts)
      .where(
        and(
          eq(hypervisorHosts.sshHost, target.host),
          eq(hypervisorHosts.sshPort, target.port),
          eq(hypervisorHosts.sshUser, target.username),
          eq(hypervisorHosts.libvirtUri, libvirtUri),
        ),
      );
    if (same) throw new ConflictError(`${input.ssh} (${libvirtUri}) is already in the pool as “${same.name}”.`);
    const { cpus, memoryBytes, kvm } = await probe(connection, libvirtUri).catch((error: unknown) => {
      throw new InvalidInputError(`${input.ssh} answers over SSH, but ${(error as Error).message}`);
    });
    return await db().transaction(async (tx) => {
      const [host] = await tx
        .insert(hypervisorHosts)
        .values({
          name: input.name,
          sshHost: target.host,
          sshPort: target.port,
          sshUser: target.username,
          sshPrivateKey: sealSecret(input.privateKey, PRIVATE_KEY_PURPOSE),
          hostKeyFingerprint: connection.fingerprint,
          libvirtUri,
          cpus,
          memoryBytes,
          kvm,
          checkedAt: new Date(),
        })
        .onConflictDoNothing()
        .returning(hostColumns);
      // Added meanwhile by someone else, under this name or for this libvirt.
      if (!host) throw new ConflictError(`“${input.name}”, or ${input.ssh} (${libvirtUri}), was just added by someone else.`);
      await recordAudit(tx, {
        userId: actor.userId,
        action: "hypervisor_added",
        meta: actor.meta,
        byUser: actor.byUser,
        detail: { hostId: host.id, name: host.name, ssh: input.ssh, fingerprint: host.hostKeyFingerprint },
      });
      return host;
    });
  } finally {
    connection.close();
  }
}

/** Enabled hosts take new sessions; draining ones keep their running sessions and take no more. */
export async function setHostMode(name: string, mode: HostMode, actor: { userId: string | null; meta?: RequestMeta; byUser?: boolean }) {
  return db().transaction(async (tx) => {
    const [host] = await tx.update(hypervisorHosts).set({ mode }).where(eq(hypervisorHosts.name, name)).returning(hostColumns);
    if (!host) throw new NotFoundError(`There is no hypervisor host called “${name}”.`);
    await recordAudit(tx, { userId: actor.userId, action: "hypervisor_mode_changed", meta: actor.meta, byUser: actor.byUser, detail: { hostId: host.id, mode } });
    return host;
  });
}

export async function removeHost(name: string, actor: { userId: string | null; meta?: RequestMeta; byUser?: boolean }) {
  const host = await hostByNameOrThrow(name);
  const [inUse] = await db()
    .select({ n: count() })
    .from(sessions)
    .where(and(eq(sessions.hostId, host.id), inArray(sessions.state, [...liveSessionStates, "host_lost"])));
  if (inUse && inUse.n > 0) {
    throw new ConflictError(`${inUse.n} session(s) still run on ${name} (or lost it and may come back). Drain it, and remove it once they have finished.`);
  }
  await db().transaction(async (tx) => {
    await tx.delete(hypervisorHosts).where(eq(hypervisorHosts.id, host.id));
    await recordAudit(tx, { userId: actor.userId, action: "hypervisor_removed", meta: actor.meta, byUser: actor.byUser, detail: { hostId: host.id, name } });
  });
  closeHostConnection(host.id);
}

/**
 * Asks the host for its capacity over its pooled connection and records the answer: reachable
 * with fresh figures, or down with the reason. A host whose key changed stays down.
 */
export async function checkHostHealth(host: HypervisorHost): Promise<HostState> {
  let update: Partial<HypervisorHost>;
  try {
    update = { ...(await nodeCapacity(host)), reachable: true, problem: null };
  } catch (error) {
    closeHostConnection(host.id);
    update = { reachable: false, problem: error instanceof Error ? error.message : String(error) };
  }
  const [row] = await db()
    .update(hypervisorHosts)
    .set({ ...update, checkedAt: new Date() })
    .where(eq(hypervisorHosts.id, host.id))
    .returning({ mode: hypervisorHosts.mode, reachable: hypervisorHosts.reachable });
  return row ? hostState(row) : "down";
}

export async function checkAllHosts(): Promise<void> {
  const hosts = await db().select().from(hypervisorHosts);
  await Promise.all(hosts.map((host) => checkHostHealth(host)));
}

const HEALTH_INTERVAL_MS = 30_000;

/** Checks every host now and every 30 s, for as long as the server runs; `afterEach` runs after each round. */
export function startHealthChecks(afterEach?: (round: number) => Promise<void>): () => void {
  let round = 0;
  const run = () =>
    void checkAllHosts()
      .then(() => afterEach?.(round++))
      .catch((error: unknown) => console.error("Checking hypervisor hosts failed:", error));
  run();
  const timer = setInterval(run, HEALTH_INTERVAL_MS);
  timer.unref();
  return () => clearInterval(timer);
}
