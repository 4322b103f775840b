import { describe, expect, it } from "vitest";
import { osProductName } from "./inspect-image";

describe("the OS's name on the timeline", () => {
  it("puts the distribution's name before a product name that is only a version (Debian's /etc/debian_version)", () => {
    expect(osProductName("12.15", "debian")).toBe("Debian GNU/Linux 12.15");
    expect(osProductName("24.04", "somenewdistro")).toBe("somenewdistro 24.04");
  });

  it("keeps a product name that says what it is, and one of an OS it cannot name", () => {
    expect(osProductName("Ubuntu 24.04.1 LTS", "ubuntu")).toBe("Ubuntu 24.04.1 LTS");
    expect(osProductName("Twinboot Office PC 1.0", "unknown")).toBe("Twinboot Office PC 1.0");
    expect(osProductName("Windows 10 Pro", "windows")).toBe("Windows 10 Pro");
    expect(osProductName("12.15", "unknown")).toBe("12.15");
    expect(osProductName("unknown", "debian")).toBe("unknown");
  });
});
