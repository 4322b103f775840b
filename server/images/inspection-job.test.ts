import { describe, expect, it } from "vitest";
import { failureDetail } from "./inspection-job";

describe("failureDetail", () => {
  it("keeps libguestfs' own message, without the server's paths", () => {
    expect(failureDetail("guestfish --remote=123 -- run exited with code 1: libguestfs: error: could not create appliance through libvirt.\nmore")).toBe("could not create appliance through libvirt.");
    expect(failureDetail("guestfish --listen --ro --format=qcow2 -a /var/lib/twinboot/images/m/i.qcow2 was stopped after 300000 ms: ")).toBe("guestfish --listen --ro --format=qcow2 -a … was stopped after 300000 ms:");
  });

  it("is short", () => {
    expect(failureDetail("x".repeat(500))).toHaveLength(200);
    expect(failureDetail("")).toBe("no reason given");
  });
});
