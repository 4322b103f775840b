// Telling a machine's agent at once that a request is waiting: the transaction that records a
// request also NOTIFYs the machine id on one channel (delivered only if it commits); every server
// process LISTENs once and hands the notice to the agents' event streams connected to it.
import { EventEmitter } from "node:events";
import { sql } from "drizzle-orm";
import { sqlClient, type Transaction } from "@/db/client";

const CHANNEL = "twinboot_apply_requests";

export async function notifyMachine(tx: Transaction, machineId: string): Promise<void> {
  await tx.execute(sql`select pg_notify(${CHANNEL}, ${machineId})`);
}

/** Emitted when listening (again): every subscriber reads its requests afresh. */
const EVERY_MACHINE = Symbol("every machine");

const globalForListener = globalThis as unknown as { twinbootApplyListener?: Promise<EventEmitter> };

function listener(): Promise<EventEmitter> {
  globalForListener.twinbootApplyListener ??= (async () => {
    const machines = new EventEmitter().setMaxListeners(0);
    // postgres.js keeps a connection of its own for LISTEN and listens again after reconnecting;
    // notices sent while it was away are lost, so every stream is told to look again then.
    await sqlClient().listen(
      CHANNEL,
      (machineId) => machines.emit(machineId),
      () => machines.emit(EVERY_MACHINE),
    );
    return machines;
  })().catch((error: unknown) => {
    globalForListener.twinbootApplyListener = undefined;
    throw error;
  });
  return globalForListener.twinbootApplyListener;
}

/** Calls `onRequest` whenever a request for the machine is recorded; returns the unsubscribe. */
export async function onApplyRequest(machineId: string, onRequest: () => void): Promise<() => void> {
  const machines = await listener();
  machines.on(machineId, onRequest).on(EVERY_MACHINE, onRequest);
  return () => void machines.off(machineId, onRequest).off(EVERY_MACHINE, onRequest);
}
