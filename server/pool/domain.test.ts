import { describe, expect, it } from "vitest";
import { parseDomainDiskSources, parseDomainList } from "./domain";

describe("parseDomainList", () => {
  it("reads one name a line and drops the blank ones virsh prints around them", () => {
    expect(parseDomainList("twinboot-a\n  twinboot-b  \n\n")).toEqual(["twinboot-a", "twinboot-b"]);
  });

  it("reads no domains from empty output", () => {
    expect(parseDomainList("\n")).toEqual([]);
    expect(parseDomainList("")).toEqual([]);
  });
});

describe("parseDomainDiskSources", () => {
  it("reads each disk's source, spaces included, and leaves out empty drives", () => {
    const quiet = " file   disk    sda   /var/lib/twinboot/images/m 1/s.qcow2\n file   cdrom   sdb   -\n\n";
    expect(parseDomainDiskSources(quiet)).toEqual(["/var/lib/twinboot/images/m 1/s.qcow2"]);
  });

  it("skips the header and the rule virsh prints without --quiet", () => {
    const table = [" Type   Device   Target   Source", "-------------------------------------", " file   disk     vda      /store/a.qcow2", ""].join("\n");
    expect(parseDomainDiskSources(table)).toEqual(["/store/a.qcow2"]);
  });
});
