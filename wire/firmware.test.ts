import { describe, expect, it } from "vitest";
import { presetFirmware } from "./firmware";

describe("presetFirmware", () => {
  it("goes by the disk, whatever the agent's own host was", () => {
    expect(presetFirmware({ bios: false, uefi: true, efiLoader: "/EFI/BOOT/BOOTX64.EFI" }, { firmware: "bios" })).toEqual({ firmware: "uefi", reason: "The disk boots with UEFI (/EFI/BOOT/BOOTX64.EFI)." });
    expect(presetFirmware({ bios: true, uefi: false }, { firmware: "uefi", secureBoot: true }).firmware).toBe("bios");
  });

  it("turns Secure Boot on only when the computer had it on", () => {
    expect(presetFirmware({ bios: false, uefi: true }, { firmware: "uefi", secureBoot: true }).firmware).toBe("uefi-secure-boot");
    expect(presetFirmware({ bios: false, uefi: true }, { firmware: "uefi", secureBoot: false }).firmware).toBe("uefi");
    expect(presetFirmware({ bios: false, uefi: true }, { firmware: "uefi" }).firmware).toBe("uefi");
  });

  it("takes the agent's word when the disk can boot either way, or shows neither", () => {
    expect(presetFirmware({ bios: true, uefi: true }, { firmware: "uefi" }).firmware).toBe("uefi");
    expect(presetFirmware({ bios: true, uefi: true }, { firmware: "bios" }).firmware).toBe("bios");
    expect(presetFirmware({ bios: false, uefi: false }, { firmware: "uefi" })).toEqual({ firmware: "uefi", reason: "No boot loader was found on the disk; the computer's agent reported UEFI." });
    expect(presetFirmware(null, {})).toEqual({ firmware: "bios", reason: "The disk is not inspected yet; BIOS is the default." });
  });
});
