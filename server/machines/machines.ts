// A user's machines (the physical computers that send backups). Every query names the owner,
// so a machine id alone never reaches another user's record.
import { and, asc, eq, sql } from "drizzle-orm";
import { db } from "@/db/client";
import { machines, users, type ApplyBackMode } from "@/db/schema";
import { recordAudit } from "@/server/audit/record-audit";
import { confirmIdentity } from "@/server/auth/confirm-identity";
import { hashToken, newToken } from "@/server/auth/token";
import { ConflictError, IdentityNotConfirmedError, NotFoundError } from "@/server/errors";
import type { RequestMeta } from "@/server/request-meta";
import type { TIdentityProof } from "@/wire/account";

export const ENROLLMENT_TOKEN_PREFIX = "tbe_";
const ENROLLMENT_TOKEN_HOURS = 24;

const machineColumns = {
  id: machines.id,
  name: machines.name,
  applyBackMode: machines.applyBackMode,
  enrolledAt: machines.enrolledAt,
  enrollmentTokenExpiresAt: machines.enrollmentTokenExpiresAt,
  createdAt: machines.createdAt,
};

const NOT_FOUND = "No such machine. It may have been deleted.";

export async function listMachines(ownerId: string) {
  return db().select(machineColumns).from(machines).where(eq(machines.ownerId, ownerId)).orderBy(asc(machines.name));
}

export async function getMachineOrThrow(ownerId: string, machineId: string) {
  const [row] = await db()
    .select(machineColumns)
    .from(machines)
    .where(and(eq(machines.id, machineId), eq(machines.ownerId, ownerId)));
  if (!row) throw new NotFoundError(NOT_FOUND);
  return row;
}

function newEnrollmentToken() {
  const token = newToken(ENROLLMENT_TOKEN_PREFIX);
  return {
    token,
    enrollmentTokenHash: hashToken(token),
    enrollmentTokenExpiresAt: new Date(Date.now() + ENROLLMENT_TOKEN_HOURS * 3_600_000),
  };
}

/** Adds a machine and returns it with its one-time enrollment token (shown once, stored hashed). */
export async function createMachine(
  input: { ownerId: string; name: string },
  meta: RequestMeta | undefined,
  byUser = true,
) {
  const { token, ...tokenColumns } = newEnrollmentToken();
  return db().transaction(async (tx) => {
    const [created] = await tx
      .insert(machines)
      .values({ ownerId: input.ownerId, name: input.name, ...tokenColumns })
      .onConflictDoNothing()
      .returning(machineColumns);
    if (!created) throw new ConflictError(`You already have a machine called “${input.name}”. Choose another name.`);
    await recordAudit(tx, {
      userId: input.ownerId,
      action: "machine_created",
      meta,
      byUser,
      detail: { machineId: created.id, name: created.name },
    });
    return { machine: created, enrollmentToken: token };
  });
}

/** Replaces the machine's enrollment token with a new one, valid for 24 hours. */
export async function issueEnrollmentToken(ownerId: string, machineId: string, meta: RequestMeta) {
  const { token, ...tokenColumns } = newEnrollmentToken();
  return db().transaction(async (tx) => {
    const [row] = await tx
      .update(machines)
      .set(tokenColumns)
      .where(and(eq(machines.id, machineId), eq(machines.ownerId, ownerId)))
      .returning({ id: machines.id, expiresAt: machines.enrollmentTokenExpiresAt });
    if (!row) throw new NotFoundError(NOT_FOUND);
    await recordAudit(tx, { userId: ownerId, action: "enrollment_token_issued", meta, detail: { machineId } });
    return { enrollmentToken: token, expiresAt: row.expiresAt! };
  });
}

export async function renameMachine(ownerId: string, machineId: string, name: string, meta: RequestMeta) {
  return db().transaction(async (tx) => {
    const [clash] = await tx
      .select({ id: machines.id })
      .from(machines)
      .where(and(eq(machines.ownerId, ownerId), sql`lower(${machines.name}) = ${name.toLowerCase()}`));
    if (clash && clash.id !== machineId) throw new ConflictError(`You already have a machine called “${name}”.`);
    const [row] = await tx
      .update(machines)
      .set({ name })
      .where(and(eq(machines.id, machineId), eq(machines.ownerId, ownerId)))
      .returning(machineColumns);
    if (!row) throw new NotFoundError(NOT_FOUND);
    await recordAudit(tx, { userId: ownerId, action: "machine_renamed", meta, detail: { machineId, name } });
    return row;
  });
}

/**
 * Sets what the machine's agent does with changes sent to it. Turning automatic on is a sensitive
 * action (every saved session of the machine is then sent home without asking), so it needs the
 * password or a code.
 */
export async function setApplyBackMode(ownerId: string, machineId: string, mode: ApplyBackMode, meta: RequestMeta, proof?: TIdentityProof) {
  if (mode === "auto") {
    if (!proof) throw new IdentityNotConfirmedError("Confirm with your password (or a code) to turn automatic apply-back on.");
    await confirmIdentity(ownerId, proof, meta);
  }
  return db().transaction(async (tx) => {
    const [row] = await tx
      .update(machines)
      .set({ applyBackMode: mode })
      .where(and(eq(machines.id, machineId), eq(machines.ownerId, ownerId)))
      .returning(machineColumns);
    if (!row) throw new NotFoundError(NOT_FOUND);
    await recordAudit(tx, { userId: ownerId, action: "apply_back_mode_changed", meta, detail: { machineId, mode } });
    return row;
  });
}

/** Deletes a machine after the owner confirms with a password or code (a sensitive action). */
export async function deleteMachine(ownerId: string, machineId: string, proof: TIdentityProof, meta: RequestMeta) {
  await confirmIdentity(ownerId, proof, meta);
  await db().transaction(async (tx) => {
    const [row] = await tx
      .delete(machines)
      .where(and(eq(machines.id, machineId), eq(machines.ownerId, ownerId)))
      .returning({ id: machines.id, name: machines.name });
    if (!row) throw new NotFoundError(NOT_FOUND);
    await recordAudit(tx, { userId: ownerId, action: "machine_deleted", meta, detail: { machineId, name: row.name } });
  });
}

/** Every machine with its owner's email, for the admin CLI. */
export async function listAllMachines() {
  return db()
    .select({ ...machineColumns, ownerEmail: users.email })
    .from(machines)
    .innerJoin(users, eq(users.id, machines.ownerId))
    .orderBy(asc(users.email), asc(machines.name));
}
