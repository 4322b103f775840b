// A user's sessions as the app shows them; the owner is part of every query.
import { and, desc, eq, type SQL } from "drizzle-orm";
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
