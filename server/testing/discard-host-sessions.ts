// Test helper: discards every session still holding a VM or an overlay on the named hosts, so
// that they can be removed after a test that failed half-way (a stale record of a pool host
// would refuse the next registration of that libvirt).
import { and, eq, inArray } from "drizzle-orm";
import { db } from "@/db/client";
import { hypervisorHosts, sessions } from "@/db/schema";
import { finishSession } from "@/server/sessions/session-jobs";

export async function discardHostSessions(hostNames: string[]): Promise<void> {
  const left = await db()
    .select({ id: sessions.id, userId: sessions.userId })
    .from(sessions)
    .innerJoin(hypervisorHosts, eq(hypervisorHosts.id, sessions.hostId))
    .where(and(inArray(hypervisorHosts.name, hostNames), inArray(sessions.state, ["running", "host_lost", "failed"])));
  for (const session of left) {
    const finishing = await finishSession({ userId: session.userId, sessionId: session.id, mode: "discard", shutdownTimeoutMs: 0 }).catch(() => null);
    await finishing?.done();
  }
}
