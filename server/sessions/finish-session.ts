// Finishing a session: shut the VM down (ACPI, then destroy after a timeout), then do what the
// user chose with its overlay —
//   incremental: the overlay itself becomes the new image (parent: the image the session started
//                from, origin: session), sealed read-only under its image name; nothing is copied;
//   independent: the chain is flattened into a standalone qcow2, which becomes the image, and the
//                overlay is removed;
//   discard:     the overlay is removed.
// A session whose host was lost (or that failed) can still be saved or discarded: its overlay is
// in the shared store. No overlay is removed unless it was discarded or became an image.
import { existsSync } from "node:fs";
import { and, eq } from "drizzle-orm";
import { db, type Transaction } from "@/db/client";
import { changeSets, hypervisorHosts, images, sessions, type Session } from "@/db/schema";
import type { FinishMode } from "@/wire/enums";
import { ConflictError, NotFoundError } from "@/server/errors";
import { createQcow2Flattened, qemuImgCheck, qemuImgInfo } from "@/server/images/qcow2";
import { imageFileName, removeStoreFile, sealImageFile, storePath } from "@/server/images/store";
import { domainDestroy, domainShutdown, listDomains } from "@/server/pool/domain";
import { domainName } from "./domain-xml";
import { moveSession } from "./session-state";
import { inspectImageJob } from "@/server/images/inspection-job";
import { listChangesJob } from "@/server/changes/change-set-job";
import { serialLogName, uefiVarsName, vncSocketName, type GuardedWrite } from "./start-session";

const POLL_MS = 1000;

/** The VNC socket, serial log and UEFI variables go with the VM. */
async function removeSessionSideFiles(session: Session) {
  await removeStoreFile(vncSocketName(session.id));
  await removeStoreFile(serialLogName(session.machineId, session.id));
  await removeStoreFile(uefiVarsName(session.machineId, session.id));
}

/** Asks the guest to power off, waits up to `timeoutMs`, then pulls the plug. The domain is transient: once off, it is gone. */
async function stopVm(session: Session, timeoutMs: number): Promise<void> {
  if (!session.hostId) return;
  const [host] = await db().select().from(hypervisorHosts).where(eq(hypervisorHosts.id, session.hostId));
  if (!host) return;
  const name = domainName(session.id);
  const running = async () => (await listDomains({ host })).includes(name);
  if (!(await running())) return;
  await domainShutdown({ host, name }).catch(() => undefined);
  for (const deadline = Date.now() + timeoutMs; Date.now() < deadline; ) {
    if (!(await running())) return;
    await new Promise((resolve) => setTimeout(resolve, POLL_MS));
  }
  await domainDestroy({ host, name }).catch(async (error: unknown) => {
    if (await running()) throw error;
  });
}

/** The overlay becomes an image, or a flattened copy of its chain does; one transaction records the image and the saved session. */
async function save(session: Session, mode: "incremental" | "independent", write: GuardedWrite): Promise<Session> {
  const overlay = session.overlayFile!;
  const imageFile = imageFileName(session.machineId, session.id);
  const [parent] = await db().select().from(images).where(eq(images.id, session.imageId));
  if (!parent) throw new ConflictError("The image this session started from is gone; the session can only be discarded.");
  // A crash after sealing leaves the image file (and perhaps the overlay's name, a second link
  // to the same file for an incremental, or the flattened chain's source): carry on from there.
  const sealed = existsSync(storePath(imageFile));
  if (sealed) {
    await removeStoreFile(overlay);
  } else if (mode === "incremental") {
    await qemuImgCheck(storePath(overlay));
    await sealImageFile(overlay, imageFile);
  } else {
    const flattened = `${session.machineId}/.flatten-${session.id}.qcow2`;
    await removeStoreFile(flattened); // half-written by a crash, if there
    await createQcow2Flattened({ source: storePath(overlay), file: storePath(flattened) });
    await sealImageFile(flattened, imageFile);
    await removeStoreFile(overlay);
  }
  const info = await qemuImgInfo(storePath(imageFile));
  return write(async (tx) => {
    // Carried on after a crash, the image may be recorded already.
    await tx
      .insert(images)
      .values({
        id: session.id,
        machineId: session.machineId,
        parentId: mode === "incremental" ? session.imageId : null,
        kind: mode,
        origin: "session",
        file: imageFile,
        virtualSize: parent.virtualSize,
        bytesStored: info.actualSize,
        profile: parent.profile,
        takenAt: new Date(),
      })
      .onConflictDoNothing();
    // What changed, file by file, is listed by a job (server/changes), and the new image inspected.
    await tx
      .insert(changeSets)
      .values({ sessionId: session.id, userId: session.userId, machineId: session.machineId, baseImageId: session.imageId, imageId: session.id })
      .onConflictDoNothing();
    await listChangesJob.enqueue({ sessionId: session.id }, { executor: tx });
    await inspectImageJob.enqueue({ imageId: session.id }, { executor: tx });
    return moveSession(session.id, "saved", { savedImageId: session.id, endedAt: new Date() }, { executor: tx });
  });
}

/**
 * Carries a finish on from where the session is: `stopping` (the VM may still run) or `saving`.
 * Every step can be repeated, so an attempt that stopped anywhere is carried on by the next.
 * Failures throw, for the job to try again; its last failure leaves the session `failed`.
 */
export async function carryOnFinish(sessionId: string, shutdownTimeoutMs: number, write: GuardedWrite): Promise<void> {
  const [session] = await db().select().from(sessions).where(eq(sessions.id, sessionId));
  if (!session) return;
  const mode = session.finishMode;
  if (session.state === "discarded") {
    await removeSessionSideFiles(session);
    if (session.overlayFile) await removeStoreFile(session.overlayFile);
    return;
  }
  if (session.state !== "stopping" && session.state !== "saving") return; // finished already
  if (!mode) throw new Error("the session has no finish mode");
  if (session.state === "stopping") await stopVm(session, shutdownTimeoutMs);
  await removeSessionSideFiles(session);
  if (mode === "discard") {
    if (session.overlayFile) await removeStoreFile(session.overlayFile);
    await write((tx) => moveSession(session.id, "discarded", { endedAt: new Date() }, { executor: tx }));
    return;
  }
  if (session.state === "stopping") await write((tx) => moveSession(session.id, "saving", { endedAt: new Date() }, { executor: tx }));
  await save(session, mode, write);
}

/**
 * Finishes one of the user's sessions with `mode`: moves it to `stopping` (or `saving`, or
 * `discarded` when no VM runs) and records the finishing job, in one transaction.
 * `enqueue` is the finishing job's (session-jobs.ts). Returns the session as moved and the job.
 */
export async function recordFinishRequest(
  input: { userId: string; sessionId: string; mode: FinishMode },
  enqueue: (sessionId: string, tx: Transaction) => Promise<string>,
): Promise<{ session: Session; jobId: string }> {
  const { userId, sessionId, mode } = input;
  const [current] = await db()
    .select({ state: sessions.state, overlayFile: sessions.overlayFile })
    .from(sessions)
    .where(and(eq(sessions.id, sessionId), eq(sessions.userId, userId)));
  if (!current) throw new NotFoundError("No such session.");
  if (!current.overlayFile && mode !== "discard") throw new ConflictError("This session never started, so there is nothing to save; discard it.");
  return db().transaction(async (tx) => {
    const moved = { ownerId: userId, executor: tx };
    const session = current.state === "running"
      ? await moveSession(sessionId, "stopping", { finishMode: mode }, moved)
      : mode === "discard"
        ? await moveSession(sessionId, "discarded", { finishMode: mode, endedAt: new Date() }, moved)
        : await moveSession(sessionId, "saving", { finishMode: mode }, moved);
    // A discarded session's job still has its files to remove.
    const jobId = await enqueue(sessionId, tx);
    return { session, jobId };
  });
}
