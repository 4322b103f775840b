// A user's sessions as the app shows them, and their usage; the owner is part of every query.
import { and, desc, eq, isNotNull, sql, type SQL } from "drizzle-orm";
import { db } from "@/db/client";
import { hypervisorHosts, images, machines, sessions } from "@/db/schema";
import { NotFoundError } from "@/server/errors";

const sessionColumns = {
  id: sessions.id,
  machineId: sessions.machineId,
  machineName: machines.name,
  imageId: sessions.imageId,
  imageTakenAt: images.takenAt,
  imageKind: images.kind,
  vmType: sessions.vmType,
  firmware: sessions.firmware,
  network: sessions.network,
  state: sessions.state,
  finishMode: sessions.finishMode,
  cpus: sessions.cpus,
  memoryBytes: sessions.memoryBytes,
  hostName: hypervisorHosts.name,
  savedImageId: sessions.savedImageId,
  problem: sessions.problem,
  createdAt: sessions.createdAt,
  runningAt: sessions.runningAt,
  endedAt: sessions.endedAt,
};

function sessionsOf(ownerId: string, ...conditions: SQL[]) {
  return db()
    .select(sessionColumns)
    .from(sessions)
    .innerJoin(machines, eq(machines.id, sessions.machineId))
    .innerJoin(images, eq(images.id, sessions.imageId))
    .leftJoin(hypervisorHosts, eq(hypervisorHosts.id, sessions.hostId))
    .where(and(eq(sessions.userId, ownerId), ...conditions))
    .$dynamic();
}

export async function getSessionOrThrow(ownerId: string, sessionId: string) {
  const [session] = await sessionsOf(ownerId, eq(sessions.id, sessionId));
  if (!session) throw new NotFoundError("No such session.");
  return session;
}

export async function listSessions(ownerId: string) {
  return sessionsOf(ownerId).orderBy(desc(sessions.createdAt)).limit(50);
}

/**
 * Hours of running VMs per machine per month — the basis for billing — with vCPU-hours and
 * GiB-hours for the VM sizes. A session counts in the month it started; one still running counts
 * up to now.
 */
export async function usageByMonth(ownerId: string) {
  const hours = sql<number>`extract(epoch from (coalesce(${sessions.endedAt}, now()) - ${sessions.runningAt})) / 3600`;
  const month = sql<string>`to_char(date_trunc('month', ${sessions.runningAt}), 'YYYY-MM')`;
  const rows = await db()
    .select({
      month,
      machineId: machines.id,
      machineName: machines.name,
      sessions: sql<number>`count(*)::int`,
      hours: sql<number>`sum(${hours})::float8`,
      vcpuHours: sql<number>`sum(${sessions.cpus} * ${hours})::float8`,
      gibHours: sql<number>`sum(${sessions.memoryBytes}::float8 / 1073741824 * ${hours})::float8`,
    })
    .from(sessions)
    .innerJoin(machines, eq(machines.id, sessions.machineId))
    .where(and(eq(sessions.userId, ownerId), isNotNull(sessions.runningAt)))
    .groupBy(month, machines.id, machines.name)
    .orderBy(desc(month), machines.name);
  return rows;
}
