// The session domain XML, checked against libvirt's own schema (virt-xml-validate) for every
// combination, and for what matters: where VNC listens, which buses, which firmware.
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { sessionDomainXml, sessionVmSize, type DomainSpec } from "./domain-xml";

const GiB = 1024 ** 3;
const dir = mkdtempSync(path.join(os.tmpdir(), "twinboot-domain-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const base: DomainSpec = {
  sessionId: "0b7c6f7e-9d3a-4a57-9e59-1b7d8b0e2c11",
  title: `Session of “Alice's <office> PC” & co`,
  firmware: "bios",
  vmType: "compatible",
  size: { cpus: 2, memoryBytes: 2 * GiB },
  kvm: false,
  diskPath: "/srv/twinboot/images/m/.session-x.qcow2",
  vncSocketPath: "/srv/twinboot/run/x.vnc",
  serialLogPath: "/srv/twinboot/run/x.log",
  uefiVarsPath: "/srv/twinboot/images/m/.session-x.vars.fd",
  network: "none",
};

function validate(xml: string) {
  const file = path.join(dir, "domain.xml");
  writeFileSync(file, xml);
  // It says "validates" (on stderr) and exits 0, or names what is wrong and exits 1.
  const run = spawnSync("virt-xml-validate", [file, "domain"], { encoding: "utf8" });
  return `${run.status} ${run.stdout}${run.stderr}`;
}

describe("a session's domain", () => {
  for (const firmware of ["bios", "uefi", "uefi-secure-boot"] as const) {
    for (const vmType of ["compatible", "fast"] as const) {
      for (const kvm of [false, true]) {
        for (const network of ["none", "nat"] as const) {
          it(`is valid libvirt XML: ${firmware}, ${vmType}, ${kvm ? "KVM" : "TCG"}, ${network === "nat" ? "NAT network" : "no network"}`, () => {
            expect(validate(sessionDomainXml({ ...base, firmware, vmType, kvm, network }))).toMatch(/^0 .*validates/);
          });
        }
      }
    }
  }

  it("serves VNC on the UNIX socket only, and has no network unless asked", () => {
    const domain = sessionDomainXml(base);
    expect(domain).toContain("<graphics type='vnc' socket='/srv/twinboot/run/x.vnc'/>");
    expect(domain).not.toMatch(/<graphics[^>]*(listen|port=)|<listen/);
    expect(domain).not.toContain("<interface");
  });

  it("uses SATA and e1000 when compatible, virtio when fast, TCG without KVM, OVMF for UEFI", () => {
    const compatible = sessionDomainXml({ ...base, network: "nat" });
    expect(compatible).toContain("<target dev='sda' bus='sata'/>");
    expect(compatible).toContain("<interface type='user'>\n      <model type='e1000'/>");
    expect(compatible).toContain("<domain type='qemu'>");
    const fast = sessionDomainXml({ ...base, vmType: "fast", kvm: true, firmware: "uefi", network: "nat" });
    expect(fast).toContain("<target dev='vda' bus='virtio'/>");
    expect(fast).toContain("<model type='virtio'/>");
    expect(fast).toContain("<domain type='kvm'>");
    expect(fast).toContain("<os firmware='efi'>");
  });

  it("asks libvirt for OVMF without Secure Boot for UEFI, and with Microsoft's keys and SMM for Secure Boot", () => {
    const uefi = sessionDomainXml({ ...base, firmware: "uefi" });
    expect(uefi).toContain("<feature enabled='no' name='secure-boot'/>");
    expect(uefi).not.toContain("<smm");
    expect(uefi).toContain("<nvram>/srv/twinboot/images/m/.session-x.vars.fd</nvram>");
    const secure = sessionDomainXml({ ...base, firmware: "uefi-secure-boot" });
    expect(secure).toContain("<feature enabled='yes' name='secure-boot'/>\n      <feature enabled='yes' name='enrolled-keys'/>");
    expect(secure).toContain("<loader secure='yes'/>");
    expect(secure).toContain("<smm state='on'/>");
    expect(sessionDomainXml(base)).not.toMatch(/firmware|loader|smm/);
  });

  it("escapes what comes from users", () => {
    expect(sessionDomainXml(base)).toContain("<title>Session of “Alice&#39;s &#60;office&#62; PC” &#38; co</title>");
  });
});

describe("a session VM's size", () => {
  it("follows the source machine within the limit, never below 512 MiB and one vCPU", () => {
    expect(sessionVmSize({ cpus: 8, memoryBytes: 32 * GiB }, { cpus: 2, memoryBytes: 4 * GiB })).toEqual({ cpus: 2, memoryBytes: 4 * GiB });
    expect(sessionVmSize({ cpus: 1, memoryBytes: 256 * 1024 ** 2 }, { cpus: 4, memoryBytes: 4 * GiB })).toEqual({ cpus: 1, memoryBytes: 512 * 1024 ** 2 });
    expect(sessionVmSize({ cpus: 2, memoryBytes: 0 }, { cpus: 4, memoryBytes: 8 * GiB })).toEqual({ cpus: 2, memoryBytes: 2 * GiB });
    expect(sessionVmSize({ cpus: 2, memoryBytes: 3 * GiB + 12345 }, { cpus: 4, memoryBytes: 8 * GiB }).memoryBytes).toBe(3 * GiB);
  });
});
