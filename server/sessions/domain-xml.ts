// The libvirt domain of a session's VM, shaped like the machine it stands for: BIOS or UEFI as the
// source had, memory and vCPUs from its profile within what the host has room for, and the VM
// type the user chose — compatible (SATA, e1000, VGA: any OS boots) or fast (virtio disk and
// network, for guests that have the drivers). The screen is served by VNC on a UNIX socket on the
// host only; there is no network unless the administrator enabled the NAT one
// (server/settings/vm-network.ts).
import type { VmFirmware, VmNetwork } from "@/wire/enums";
import type { TMachineProfile } from "@/wire/agent";

export const VM_TYPES = ["compatible", "fast"] as const;
export type VmType = (typeof VM_TYPES)[number];

const MiB = 1024 * 1024;
const GiB = 1024 * MiB;
/** Below this, the installers and desktops people back up do not start. */
const MIN_MEMORY_BYTES = 512 * MiB;

export interface VmSize {
  cpus: number;
  memoryBytes: number;
}

/**
 * The VM's size: the source machine's, within `limit` (the most one session may take), at least
 * 512 MiB and one vCPU; memory in whole MiB.
 */
export function sessionVmSize(profile: Pick<TMachineProfile, "cpus" | "memoryBytes">, limit: VmSize): VmSize {
  const wanted = profile.memoryBytes > 0 ? profile.memoryBytes : 2 * GiB;
  const memoryBytes = Math.floor(Math.max(MIN_MEMORY_BYTES, Math.min(wanted, limit.memoryBytes)) / MiB) * MiB;
  return { cpus: Math.max(1, Math.min(profile.cpus, limit.cpus)), memoryBytes };
}

export interface DomainSpec {
  /** The session id: the domain's UUID, so that a running domain is matched to its session. */
  sessionId: string;
  title: string;
  firmware: VmFirmware;
  vmType: VmType;
  size: VmSize;
  /** KVM where the host's probe proved it works, TCG otherwise. */
  kvm: boolean;
  /** The session's qcow2 overlay, as the host sees it. */
  diskPath: string;
  vncSocketPath: string;
  /** Where the guest's first serial port is written: boot messages, for diagnosing a VM that does not come up. */
  serialLogPath: string;
  /** The UEFI variables of the session (made by libvirt from the firmware's template at the first boot), beside its overlay. */
  uefiVarsPath: string;
  /** No NIC at all, or one behind a NAT of the VM's own (QEMU user-mode networking). */
  network: VmNetwork;
}

export function domainName(sessionId: string): string {
  return `twinboot-${sessionId}`;
}

function xml(value: string): string {
  return value.replace(/[<>&'"]/g, (c) => `&#${c.charCodeAt(0)};`);
}

/**
 * libvirt picks the OVMF build from the host's firmware descriptors by these features: without
 * Secure Boot, or with it and Microsoft's keys enrolled (what PCs ship with: Windows' loader and
 * the shim of Linux distributions are signed with them). Secure Boot needs SMM, so that the guest
 * cannot write the variables that hold the keys. Each session starts from the template's variables
 * (a fresh VM has no boot entries: the firmware takes the disk's removable-media loader), kept in
 * the store beside the overlay so that they go with the session's other files.
 */
function firmwareXml(firmware: VmFirmware, uefiVarsPath: string): string {
  if (firmware === "bios") return "";
  const nvram = `    <nvram>${xml(uefiVarsPath)}</nvram>\n`;
  if (firmware === "uefi") return `    <firmware>\n      <feature enabled='no' name='secure-boot'/>\n    </firmware>\n${nvram}`;
  return `    <firmware>\n      <feature enabled='yes' name='secure-boot'/>\n      <feature enabled='yes' name='enrolled-keys'/>\n    </firmware>\n    <loader secure='yes'/>\n${nvram}`;
}

export function sessionDomainXml(spec: DomainSpec): string {
  const fast = spec.vmType === "fast";
  const disk = fast ? { dev: "vda", bus: "virtio" } : { dev: "sda", bus: "sata" };
  const network =
    spec.network === "nat"
      ? `    <interface type='user'>
      <model type='${fast ? "virtio" : "e1000"}'/>
    </interface>\n`
      : "";
  return `<domain type='${spec.kvm ? "kvm" : "qemu"}'>
  <name>${domainName(spec.sessionId)}</name>
  <uuid>${xml(spec.sessionId)}</uuid>
  <title>${xml(spec.title)}</title>
  <memory unit='b'>${spec.size.memoryBytes}</memory>
  <vcpu>${spec.size.cpus}</vcpu>
  <os${spec.firmware === "bios" ? "" : " firmware='efi'"}>
    <type arch='x86_64' machine='q35'>hvm</type>
${firmwareXml(spec.firmware, spec.uefiVarsPath)}    <boot dev='hd'/>
  </os>
  <features>
    <acpi/>
    <apic/>
${spec.firmware === "uefi-secure-boot" ? "    <smm state='on'/>\n" : ""}  </features>
${spec.kvm ? "  <cpu mode='host-passthrough'/>\n" : ""}  <clock offset='utc'/>
  <on_poweroff>destroy</on_poweroff>
  <on_reboot>restart</on_reboot>
  <on_crash>destroy</on_crash>
  <devices>
    <disk type='file' device='disk'>
      <driver name='qemu' type='qcow2' cache='writeback' discard='unmap'/>
      <source file='${xml(spec.diskPath)}'/>
      <target dev='${disk.dev}' bus='${disk.bus}'/>
    </disk>
${network}    <controller type='usb' model='qemu-xhci'/>
    <!-- An absolute pointer: the remote cursor follows the browser's exactly, touch included. -->
    <input type='tablet' bus='usb'/>
    <input type='keyboard' bus='ps2'/>
    <serial type='file'>
      <source path='${xml(spec.serialLogPath)}'/>
      <target port='0'/>
    </serial>
    <!-- The clipboard between the guest (with spice-vdagent) and the VNC viewer, both ways. -->
    <channel type='qemu-vdagent'>
      <source>
        <clipboard copypaste='yes'/>
      </source>
      <target type='virtio' name='com.redhat.spice.0'/>
    </channel>
    <graphics type='vnc' socket='${xml(spec.vncSocketPath)}'/>
    <video>
      <model type='vga'/>
    </video>
    <memballoon model='none'/>
  </devices>
</domain>
`;
}
