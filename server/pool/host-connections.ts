// One pooled SSH connection per hypervisor host, opened on first use and again after it drops.
// A host whose key no longer matches the pinned one is marked unreachable, with the reason, and
// every later use fails with the same clear error until an administrator acts.
import { eq } from "drizzle-orm";
import { db } from "@/db/client";
import { hypervisorHosts, type HypervisorHost } from "@/db/schema";
import { openSecret } from "@/server/auth/secret-box";
import { HostKeyMismatchError, SshConnection, type CommandResult, type SshTarget } from "./ssh-connection";

export const PRIVATE_KEY_PURPOSE = "hypervisor-ssh-key";

const globalForPool = globalThis as unknown as { twinbootHostConnections?: Map<string, Promise<SshConnection>> };
const connections: Map<string, Promise<SshConnection>> = (globalForPool.twinbootHostConnections ??= new Map());

export function parseSshTarget(spec: string): Omit<SshTarget, "privateKey"> {
  const match = /^([a-z_][a-z0-9_.-]*)@([A-Za-z0-9.-]+|\[[0-9a-fA-F:]+\])(?::(\d{1,5}))?$/.exec(spec);
  if (!match) throw new Error(`"${spec}" is not user@host[:port].`);
  const port = Number(match[3] ?? 22);
  if (port < 1 || port > 65535) throw new Error(`Port ${port} is out of range.`);
  return { username: match[1]!, host: match[2]!.replace(/^\[|\]$/g, ""), port };
}

export function sshTargetOf(host: HypervisorHost): SshTarget {
  return { host: host.sshHost, port: host.sshPort, username: host.sshUser, privateKey: openSecret(host.sshPrivateKey, PRIVATE_KEY_PURPOSE) };
}

async function markKeyMismatch(host: HypervisorHost, error: HostKeyMismatchError) {
  await db().update(hypervisorHosts).set({ reachable: false, problem: error.message, checkedAt: new Date() }).where(eq(hypervisorHosts.id, host.id));
}

/** The open connection to `host`, connecting (and checking its key) when there is none. */
export function connectionTo(host: HypervisorHost): Promise<SshConnection> {
  const existing = connections.get(host.id);
  if (existing) return existing;
  const opening = SshConnection.connect(sshTargetOf(host), host.hostKeyFingerprint).then(
    (connection) => {
      connection.onClose(() => {
        if (connections.get(host.id) === opening) connections.delete(host.id);
      });
      return connection;
    },
    async (error: unknown) => {
      connections.delete(host.id);
      if (error instanceof HostKeyMismatchError) await markKeyMismatch(host, error);
      throw error;
    },
  );
  connections.set(host.id, opening);
  return opening;
}

/** Runs `argv` on the host over its pooled connection; one reconnect if the connection had dropped. */
export async function runOnHost(host: HypervisorHost, argv: string[], options: { stdin?: string; timeoutMs?: number } = {}): Promise<CommandResult> {
  const connection = await connectionTo(host);
  if (connection.isOpen) return connection.exec(argv, options);
  connections.delete(host.id);
  return (await connectionTo(host)).exec(argv, options);
}

export function closeHostConnection(hostId: string): void {
  void connections.get(hostId)?.then((c) => c.close(), () => undefined);
  connections.delete(hostId);
}

export function closeAllHostConnections(): void {
  for (const id of [...connections.keys()]) closeHostConnection(id);
}
