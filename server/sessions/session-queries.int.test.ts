// Usage for billing: hours per machine per month, with VM size, from the sessions' own times.
import { describe, expect, it } from "vitest";
import { db } from "@/db/client";
import { images, sessions } from "@/db/schema";
import { createMachine } from "@/server/machines/machines";
import { createTestUser } from "@/server/testing/accounts";
import { usageByMonth } from "./session-queries";

const HOUR = 3_600_000;
const GiB = 1024 ** 3;

async function machineWithImage(ownerId: string, name: string) {
  const { machine } = await createMachine({ ownerId, name }, undefined, false);
  const [image] = await db()
    .insert(images)
    .values({ machineId: machine.id, kind: "base", origin: "agent", file: `${machine.id}/x.qcow2`, virtualSize: GiB, bytesStored: 0, takenAt: new Date(), inspectionState: "done" })
    .returning();
  return { machineId: machine.id, imageId: image!.id };
}

describe("usage", () => {
  it("adds up hours, vCPU-hours and GiB-hours per machine per month, for the user only", async () => {
    const user = await createTestUser();
    const office = await machineWithImage(user.id, "Office");
    const laptop = await machineWithImage(user.id, "Laptop");
    const run = (m: { machineId: string; imageId: string }, start: string, hours: number, cpus: number, gib: number) => ({
      userId: user.id,
      ...m,
      vmType: "compatible" as const,
      state: "saved" as const,
      cpus,
      memoryBytes: gib * GiB,
      runningAt: new Date(start),
      endedAt: new Date(new Date(start).getTime() + hours * HOUR),
    });
    await db().insert(sessions).values([
      run(office, "2026-10-03T09:00:00Z", 1, 2, 4),
      run(office, "2026-10-20T14:00:00Z", 0.5, 2, 4),
      run(laptop, "2026-10-21T08:00:00Z", 2, 1, 2),
      run(office, "2026-11-02T10:00:00Z", 3, 4, 4),
      // Requested but never ran: no usage.
      { userId: user.id, ...office, vmType: "compatible" as const, state: "failed" as const },
    ]);
    const other = await createTestUser();
    const theirs = await machineWithImage(other.id, "Theirs");
    await db().insert(sessions).values({ ...run(theirs, "2026-10-05T09:00:00Z", 5, 1, 1), userId: other.id });

    const usage = await usageByMonth(user.id);
    const round = (n: number) => Math.round(n * 1000) / 1000;
    expect(usage.map((u) => ({ ...u, hours: round(u.hours), vcpuHours: round(u.vcpuHours), gibHours: round(u.gibHours) }))).toEqual([
      { month: "2026-11", machineId: office.machineId, machineName: "Office", sessions: 1, hours: 3, vcpuHours: 12, gibHours: 12 },
      { month: "2026-10", machineId: laptop.machineId, machineName: "Laptop", sessions: 1, hours: 2, vcpuHours: 2, gibHours: 4 },
      { month: "2026-10", machineId: office.machineId, machineName: "Office", sessions: 2, hours: 1.5, vcpuHours: 3, gibHours: 6 },
    ]);
  });
});
