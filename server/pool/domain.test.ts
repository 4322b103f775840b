import { describe, expect, it } from "vitest";
import { parseDomainList } from "./domain";

describe("parseDomainList", () => {
  it("reads one name a line and drops the blank ones virsh prints around them", () => {
    expect(parseDomainList("twinboot-a\n  twinboot-b  \n\n")).toEqual(["twinboot-a", "twinboot-b"]);
  });

  it("reads no domains from empty output", () => {
    expect(parseDomainList("\n")).toEqual([]);
    expect(parseDomainList("")).toEqual([]);
  });
});
