import { describe, expect, it } from "vitest";
import { presetFirmware } from "./firmware";

describe("presetFirmware", () => {
  it("goes by the disk, whatever the agent's own host was", () => {
    expect(presetFirmware({ bios: false, uefi: true, efiLoader: "/EFI/BOOT/BOOTX64.EFI" }, { firmware: "bios" })).toEqual({ firmware: "uefi", fromDisk: true, reason: "The disk boots with UEFI (/EFI/BOOT/BOOTX64.EFI)." });
    expect(presetFirmware({ bios: true, uefi: false }, { firmware: "uefi", secureBoot: true }).firmware).toBe("bios");
  });

  it("says when a UEFI loader is only at its vendor's path, which a VM's new UEFI does not start", () => {
    expect(presetFirmware({ bios: false, uefi: true, efiLoader: "/EFI/debian/shimx64.efi", removable: false }, {}).reason).toMatch(/not at EFI\/BOOT\/BOOTX64.EFI/);
    expect(presetFirmware({ bios: false, uefi: true, efiLoader: "/EFI/BOOT/BOOTX64.EFI", removable: true }, {}).reason).toBe("The disk boots with UEFI (/EFI/BOOT/BOOTX64.EFI).");
  });

  it("turns Secure Boot on only when the computer had it on", () => {
    expect(presetFirmware({ bios: false, uefi: true }, { firmware: "uefi", secureBoot: true }).firmware).toBe("uefi-secure-boot");
    expect(presetFirmware({ bios: false, uefi: true }, { firmware: "uefi", secureBoot: false }).firmware).toBe("uefi");
    expect(presetFirmware({ bios: false, uefi: true }, { firmware: "uefi" }).firmware).toBe("uefi");
  });

  it("takes the agent's word when the disk can boot either way, or shows neither", () => {
    expect(presetFirmware({ bios: true, uefi: true }, { firmware: "uefi" }).firmware).toBe("uefi");
    expect(presetFirmware({ bios: true, uefi: true }, { firmware: "bios" }).firmware).toBe("bios");
    expect(presetFirmware({ bios: false, uefi: false }, { firmware: "uefi" })).toEqual({ firmware: "uefi", fromDisk: false, reason: "No boot loader was found on the disk; the computer's agent reported UEFI." });
    expect(presetFirmware(null, {})).toEqual({ firmware: "bios", fromDisk: false, reason: "The disk is not inspected yet; BIOS is the default." });
  });
});
