// Bringing the sessions in the database and the domains on the hosts back into agreement: at
// server start (a crash may have left either behind) and after every health check.
//
//   host unreachable          → its live sessions become host_lost (overlay kept: save or discard)
//   host_lost, domain running → running again
//   running, no domain        → failed: the VM is gone, its overlay is kept to save or discard
//   provisioning              → at start only (otherwise this server is still provisioning it):
//                               running if its domain is up (the server died between `virsh
//                               create` and recording it), failed if not
//   stopping                  → the finish is carried on (stopped, then saved or discarded)
//   a twinboot domain with no live session → destroyed: it would write into an image or a
//                               discarded overlay. Its files are left alone.
import { and, eq, inArray, isNotNull } from "drizzle-orm";
import { db } from "@/db/client";
import { hypervisorHosts, sessions, type HypervisorHost } from "@/db/schema";
import { virsh } from "@/server/pool/virsh";
import { domainName } from "./domain-xml";
import { resumeFinish } from "./finish-session";
import { liveSessionStates } from "@/wire/enums";
import { moveSession } from "./session-state";

const DOMAIN_PREFIX = "twinboot-";
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

async function runningDomains(host: HypervisorHost): Promise<Set<string> | null> {
  try {
    const names = (await virsh(host, ["list", "--name"])).split("\n").map((n) => n.trim());
    return new Set(names.filter((n) => n.startsWith(DOMAIN_PREFIX)));
  } catch {
    return null;
  }
}

/**
 * Reconciles one host; returns what it changed, for the log. Finishes under way are carried on
 * only `atStart`: at other times this server is still carrying them out itself.
 */
export async function reconcileHost(host: HypervisorHost, options: { shutdownTimeoutMs: number; atStart: boolean }): Promise<string[]> {
  const changes: string[] = [];
  const onHost = await db()
    .select()
    .from(sessions)
    .where(and(eq(sessions.hostId, host.id), inArray(sessions.state, ["provisioning", "running", "stopping", "host_lost"])));
  const domains = await runningDomains(host);

  if (!domains) {
    for (const session of onHost.filter((s) => s.state === "running" || s.state === "stopping")) {
      await moveSession(session.id, "host_lost", {
        problem: `Host ${host.name} stopped answering. The session's disk is kept: save or discard it, or wait for the host to come back.`,
      }).catch(() => undefined);
      changes.push(`session ${session.id}: host lost`);
    }
    return changes;
  }

  for (const session of onHost) {
    if (session.state === "provisioning" && !options.atStart) {
      domains.delete(domainName(session.id));
      continue;
    }
    const present = domains.has(domainName(session.id));
    domains.delete(domainName(session.id));
    if (session.state === "host_lost" && present) {
      await moveSession(session.id, "running", { problem: null }).catch(() => undefined);
      changes.push(`session ${session.id}: host back, running`);
    } else if (session.state === "provisioning" && present) {
      await moveSession(session.id, "running", { runningAt: session.runningAt ?? new Date() }).catch(() => undefined);
      changes.push(`session ${session.id}: running`);
    } else if ((session.state === "provisioning" || session.state === "running" || session.state === "host_lost") && !present) {
      await moveSession(session.id, "failed", {
        problem: "The VM stopped while Twinboot was not watching (its host or the server restarted). What it wrote is kept: save or discard it.",
        endedAt: new Date(),
      }).catch(() => undefined);
      changes.push(`session ${session.id}: VM gone, failed`);
    } else if (session.state === "stopping" && options.atStart) {
      void resumeFinish(session, options.shutdownTimeoutMs);
      changes.push(`session ${session.id}: finishing resumed`);
    }
  }
  // A domain whose session is live on another host record is not a stray: the same libvirt
  // must then be registered twice (addHost refuses that), and destroying it would kill a VM in use.
  const elsewhere = domains.size === 0 ? [] : await db()
    .select({ id: sessions.id })
    .from(sessions)
    .where(and(inArray(sessions.id, [...domains].map((name) => name.slice(DOMAIN_PREFIX.length)).filter((id) => UUID.test(id))), inArray(sessions.state, [...liveSessionStates, "host_lost"])));
  for (const { id } of elsewhere) {
    domains.delete(domainName(id));
    changes.push(`domain ${domainName(id)}: its session is live on another host record, left alone`);
  }
  for (const stray of domains) {
    await virsh(host, ["destroy", stray]).catch(() => undefined);
    changes.push(`domain ${stray}: no live session, destroyed`);
  }
  return changes;
}

export async function reconcileAllHosts(options: { shutdownTimeoutMs: number; atStart: boolean }): Promise<void> {
  const hosts = await db().select().from(hypervisorHosts);
  for (const host of hosts) {
    for (const change of await reconcileHost(host, options)) console.log(`Reconciling ${host.name}: ${change}`);
  }
  if (!options.atStart) return;
  // Sessions the server stopped before placing them: nothing was made for them.
  const unplaced = await db().select().from(sessions).where(eq(sessions.state, "requested"));
  for (const session of unplaced) {
    await moveSession(session.id, "failed", { problem: "The server restarted before this VM was started: start it again.", endedAt: new Date() }).catch(() => undefined);
    console.log(`Reconciling: session ${session.id} was never placed, failed`);
  }
  // Sessions whose saving was under way when the server stopped: no VM left, carry on saving.
  const saving = await db().select().from(sessions).where(and(eq(sessions.state, "saving"), isNotNull(sessions.finishMode)));
  for (const session of saving) void resumeFinish(session, options.shutdownTimeoutMs);
}
