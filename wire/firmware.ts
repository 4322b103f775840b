// The firmware a session's VM runs with, and how it is preset. The server decides from the image
// itself (server/images/inspect-image.ts: an EFI loader on an EFI system partition → UEFI, boot
// code in the MBR → BIOS); the agent's report of the PC it runs on is only a hint, for a disk that
// could boot either way or shows neither. Secure Boot is on only when asked for, or when the PC
// itself had it on.
import { z } from "zod";
import { vmFirmware, type VmFirmware } from "@/wire/enums";

export { vmFirmware, type VmFirmware };
export const ZVmFirmwareSchema = z.enum(vmFirmware, { message: "The firmware is bios, uefi or uefi-secure-boot." });

export const VM_FIRMWARE_LABELS: Record<VmFirmware, string> = {
  bios: "BIOS",
  uefi: "UEFI",
  "uefi-secure-boot": "UEFI with Secure Boot",
};

/** What the disk can boot with, as inspection found it (read back from the image's inspection). */
export const ZBootableWithSchema = z.object({
  bios: z.boolean(),
  uefi: z.boolean(),
  /** The EFI loader found, e.g. /EFI/BOOT/BOOTX64.EFI. */
  efiLoader: z.string().optional(),
  /** Whether that loader is on the removable-media path, the only one a VM with new UEFI variables starts. */
  removable: z.boolean().optional(),
});
export type BootableWith = z.infer<typeof ZBootableWithSchema>;

/** What the agent said of the PC it runs on (read back from the image's profile). */
export const ZFirmwareHintSchema = z.object({
  firmware: z.enum(["bios", "uefi"]).optional().catch(undefined),
  secureBoot: z.boolean().nullable().optional().catch(undefined),
});
export type FirmwareHint = z.infer<typeof ZFirmwareHintSchema>;

/** The preset for an image from its stored inspection and profile (jsonb, read defensively). */
export function presetFirmwareOf(image: { inspection: unknown; profile: unknown }): FirmwarePreset {
  const inspection = z.object({ bootableWith: ZBootableWithSchema }).safeParse(image.inspection);
  const hint = ZFirmwareHintSchema.safeParse(image.profile);
  return presetFirmware(inspection.success ? inspection.data.bootableWith : null, hint.success ? hint.data : {});
}

export interface FirmwarePreset {
  firmware: VmFirmware;
  /** Whether the disk itself decided (not the agent's report or the default). */
  fromDisk: boolean;
  /** Why, in a sentence for the start controls. */
  reason: string;
}

export function presetFirmware(bootable: BootableWith | null | undefined, hint: FirmwareHint): FirmwarePreset {
  const uefi = (why: string, fromDisk: boolean): FirmwarePreset =>
    hint.secureBoot === true ? { firmware: "uefi-secure-boot", fromDisk, reason: `${why}; the computer had Secure Boot on.` } : { firmware: "uefi", fromDisk, reason: `${why}.` };
  if (bootable?.uefi && !bootable.bios) {
    // A loader only at its vendor's path (EFI/debian/shimx64.efi) is started through a boot entry
    // in the PC's own variables, which a VM does not have: say so rather than leave a blank screen.
    const noEntry = bootable.efiLoader && bootable.removable === false ? `, but not at EFI/BOOT/BOOTX64.EFI, the one path a VM's new UEFI starts without a boot entry: its firmware may stop at its boot menu` : "";
    return uefi(`The disk boots with UEFI (${bootable.efiLoader ?? "an EFI system partition"})${noEntry}`, true);
  }
  if (bootable?.bios && !bootable.uefi) return { firmware: "bios", fromDisk: true, reason: "The disk boots with BIOS (boot code in its master boot record)." };
  const agentSays = hint.firmware === "uefi" ? "UEFI" : "BIOS";
  const found = bootable?.uefi && bootable.bios ? "The disk can boot with BIOS or UEFI" : bootable ? "No boot loader was found on the disk" : "The disk is not inspected yet";
  if (hint.firmware === "uefi") return uefi(`${found}; the computer's agent reported ${agentSays}`, false);
  return { firmware: "bios", fromDisk: false, reason: `${found}; ${hint.firmware ? `the computer's agent reported ${agentSays}` : "BIOS is the default"}.` };
}
