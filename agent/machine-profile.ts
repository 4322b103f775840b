// What the agent reports of the physical computer with each image; later shapes the VM.
import { access, readFile } from "node:fs/promises";
import { cpus, networkInterfaces, totalmem } from "node:os";
import type { TMachineProfile } from "@/wire/agent";
import { deviceSize, partitionTable } from "./disk-device";

/** The EFI global variable SecureBoot: 4 bytes of attributes, then 1 when Secure Boot is on. */
const SECURE_BOOT_VARIABLE = "/sys/firmware/efi/efivars/SecureBoot-8be4df61-93ca-11d2-aa0d-00e098032b8c";

async function secureBootOn(): Promise<boolean | null> {
  const bytes = await readFile(SECURE_BOOT_VARIABLE).catch(() => null);
  return bytes && bytes.length >= 5 ? bytes[4] === 1 : null;
}

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
    secureBoot: uefi ? await secureBootOn() : false,
    partitionTable: await partitionTable(device),
    diskBytes: await deviceSize(device),
    cpus: cpus().length,
    memoryBytes: totalmem(),
    nics,
  };
}
