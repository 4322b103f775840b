// The firmware a session is recorded with: the disk's own (its inspection), or the user's choice;
// Secure Boot only when asked for or when the PC had it on.
import { eq } from "drizzle-orm";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { db } from "@/db/client";
import { images, users } from "@/db/schema";
import { createMachine } from "@/server/machines/machines";
import { createTestUser } from "@/server/testing/accounts";
import { recordSessionRequest } from "./start-session";

let ownerId: string;
let machineId: string;

beforeAll(async () => {
  ownerId = (await createTestUser()).id;
  machineId = (await createMachine({ ownerId, name: "Desk" }, undefined, false)).machine.id;
});

afterAll(async () => {
  await db().delete(users).where(eq(users.id, ownerId));
});

async function imageWith(bootableWith: Record<string, unknown> | undefined, profile: Record<string, unknown>) {
  const [image] = await db()
    .insert(images)
    .values({
      machineId,
      kind: "base",
      origin: "agent",
      file: `${machineId}/${Math.random()}.qcow2`,
      virtualSize: 1 << 30,
      bytesStored: 0,
      takenAt: new Date(),
      inspectionState: "done",
      profile,
      inspection: bootableWith ? { os: null, filesystems: [], notes: [], partitionTable: "gpt", bootableWith } : { os: null, filesystems: [] },
    })
    .returning();
  return image!.id;
}

/** Records a session request without queueing a job (nothing here provisions). */
async function firmwareOf(imageId: string, firmware?: "bios" | "uefi" | "uefi-secure-boot") {
  const { session } = await recordSessionRequest({ userId: ownerId, imageId, vmType: "compatible", firmware }, () => Promise.resolve("no job"));
  return session.firmware;
}

describe("a session's firmware", () => {
  it("is the disk's, whatever the agent's own host had", async () => {
    expect(await firmwareOf(await imageWith({ bios: false, uefi: true, efiLoader: "/EFI/BOOT/BOOTX64.EFI" }, { firmware: "bios" }))).toBe("uefi");
    expect(await firmwareOf(await imageWith({ bios: true, uefi: false }, { firmware: "uefi", secureBoot: true }))).toBe("bios");
  });

  it("has Secure Boot when the PC had it on, or when the user asks", async () => {
    const uefiDisk = { bios: false, uefi: true };
    expect(await firmwareOf(await imageWith(uefiDisk, { firmware: "uefi", secureBoot: true }))).toBe("uefi-secure-boot");
    const plain = await imageWith(uefiDisk, { firmware: "uefi", secureBoot: false });
    expect(await firmwareOf(plain)).toBe("uefi");
    expect(await firmwareOf(plain, "uefi-secure-boot")).toBe("uefi-secure-boot");
    expect(await firmwareOf(plain, "bios")).toBe("bios");
  });

  it("follows the agent's report for an image inspected before boot loaders were looked for", async () => {
    expect(await firmwareOf(await imageWith(undefined, { firmware: "uefi" }))).toBe("uefi");
    expect(await firmwareOf(await imageWith(undefined, {}))).toBe("bios");
  });
});
