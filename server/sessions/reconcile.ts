// Bringing the sessions in the database and the domains on the hosts back into agreement: at
// server start (a crash may have left either behind) and after every health check.
//
//   host unreachable          → its live sessions become host_lost (overlay kept: save or discard)
//   host_lost, domain running → running again
//   running, no domain        → failed: the VM is gone, its overlay is kept to save or discard
//   requested, provisioning   → left to its provisioning job (session-jobs.ts), which carries on
//                               from wherever an earlier attempt stopped; with no open job left
//                               (a database from before jobs): running if its domain is up,
//                               failed if not
//   stopping, saving          → its finishing job is queued if it has none open (one per session)
//   a twinboot domain with no live session, a disk in the image store → destroyed: it would write
//                               into an image or a discarded overlay. Its files are left alone.
//                               One with no disk in the store belongs to another Twinboot on the
//                               same libvirt (another demo, a staging server) and is left alone.
import path from "node:path";
import { and, eq, inArray, isNotNull } from "drizzle-orm";
import { db } from "@/db/client";
import { hypervisorHosts, sessions, type HypervisorHost } from "@/db/schema";
import { storeRoot } from "@/server/images/store";
import { domainDestroy, domainDiskSources, listDomains } from "@/server/pool/domain";
import { domainName } from "./domain-xml";
import { jobs } from "@/db/schema";
import { openJobStates } from "@/wire/enums";
import { finishSessionJob, provisionSessionJob } from "./session-jobs";
import { liveSessionStates } from "@/wire/enums";
import { moveSession } from "./session-state";

const DOMAIN_PREFIX = "twinboot-";
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

function inImageStore(file: string): boolean {
  return path.resolve(file).startsWith(path.resolve(storeRoot()) + path.sep);
}

async function runningDomains(host: HypervisorHost): Promise<Set<string> | null> {
  try {
    return new Set((await listDomains({ host })).filter((n) => n.startsWith(DOMAIN_PREFIX)));
  } catch {
    return null;
  }
}

/** The sessions among `ids` that have an open job of `kind`. */
async function withOpenJob(kind: string, ids: string[]): Promise<Set<string>> {
  if (ids.length === 0) return new Set();
  const open = await db()
    .select({ key: jobs.key })
    .from(jobs)
    .where(and(eq(jobs.kind, kind), inArray(jobs.key, ids), inArray(jobs.state, [...openJobStates])));
  return new Set(open.map((job) => job.key));
}

/** Reconciles one host; returns what it changed, for the log. */
export async function reconcileHost(host: HypervisorHost, options: { shutdownTimeoutMs: number }): Promise<string[]> {
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

  const provisioning = await withOpenJob(provisionSessionJob.name, onHost.filter((s) => s.state === "provisioning").map((s) => s.id));
  for (const session of onHost) {
    if (provisioning.has(session.id)) {
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
    } else if (session.state === "stopping") {
      await finishSessionJob.enqueue({ sessionId: session.id, shutdownTimeoutMs: options.shutdownTimeoutMs });
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
    // Unreadable (it may have just stopped): looked at again at the next reconcile.
    const disks = await domainDiskSources({ host, name: stray }).catch(() => null);
    if (!disks?.some(inImageStore)) continue;
    await domainDestroy({ host, name: stray }).catch(() => undefined);
    changes.push(`domain ${stray}: no live session, destroyed`);
  }
  return changes;
}

export async function reconcileAllHosts(options: { shutdownTimeoutMs: number }): Promise<void> {
  const hosts = await db().select().from(hypervisorHosts);
  for (const host of hosts) {
    for (const change of await reconcileHost(host, options)) console.log(`Reconciling ${host.name}: ${change}`);
  }
  // Sessions never placed, whose job is gone: nothing was made for them.
  const requested = await db().select({ id: sessions.id }).from(sessions).where(eq(sessions.state, "requested"));
  const queued = await withOpenJob(provisionSessionJob.name, requested.map((s) => s.id));
  for (const session of requested.filter((s) => !queued.has(s.id))) {
    await moveSession(session.id, "failed", { problem: "The server restarted before this VM was started: start it again.", endedAt: new Date() }).catch(() => undefined);
    console.log(`Reconciling: session ${session.id} was never placed, failed`);
  }
  // Sessions being saved (no VM left): their finishing job, if none is open.
  const saving = await db().select({ id: sessions.id }).from(sessions).where(and(eq(sessions.state, "saving"), isNotNull(sessions.finishMode)));
  for (const session of saving) await finishSessionJob.enqueue({ sessionId: session.id, shutdownTimeoutMs: options.shutdownTimeoutMs });
}
