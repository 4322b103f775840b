// What the agent reports of the physical computer with each image; later shapes the VM.
import { access } from "node:fs/promises";
import { cpus, networkInterfaces, totalmem } from "node:os";
import type { TMachineProfile } from "@/wire/agent";
import { deviceSize, partitionTable } from "./disk-device";

export async function readMachineProfile(device: string): Promise<TMachineProfile> {
  const uefi = await access("/sys/firmware/efi").then(
    () => true,
    () => false,
  );
  const nics = Object.entries(networkInterfaces()).flatMap(([name, addresses]) => {
    const mac = addresses?.find((a) => !a.internal && a.mac !== "00:00:00:00:00:00")?.mac;
    return mac ? [{ name, mac }] : [];
  });
  return {
    firmware: uefi ? "uefi" : "bios",
    partitionTable: await partitionTable(device),
    diskBytes: await deviceSize(device),
    cpus: cpus().length,
    memoryBytes: totalmem(),
    nics,
  };
}
