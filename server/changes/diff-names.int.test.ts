// The diff on a filesystem with the names real ones have: a directory of 5,000 files with
// 200-byte names (one listing of it is megabytes of script; guestfish takes lines of about 8 KiB
// only), and names with spaces, quotes, backslashes, newlines, non-ASCII UTF-8 and bytes that are
// not UTF-8. The base is made by mkfs.ext4 -d from a folder; the session's changes through
// libguestfs. Every change must be found, and nothing else.
import { execFileSync } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Guestfish, quoteArg } from "@/server/tools/guestfish";
import { diffImages, MAX_SCRIPT_LINE_BYTES, type ImageDiff } from "./diff-images";

const MANY = 5_000;
/** The i-th of the many: 200 bytes, as long names go (ext4 allows 255). */
const longName = (i: number) => `${String(i).padStart(5, "0")}-${"quarterly-report-".repeat(12)}`.padEnd(200, "x");
const ODD_NAMES = ["name with spaces.txt", `double"quote.txt`, "single'quote.txt", "back\\slash.txt", "new\nline.txt", "tab\there.txt", "Überweisung €.txt", "日本語.txt"];
/** 20 folders of 199-byte names: a file in them has a path longer than any script line may be. */
const DEEP_DIR = Array.from({ length: 20 }, (_, i) => `/${String(i).padStart(2, "0")}${"d".repeat(197)}`).join("");
const DEEP_FILE = `${DEEP_DIR}/${"f".repeat(70)}.txt`;
const NOT_UTF8 = Buffer.from([0x66, 0x6f, 0xff, 0xfe, 0x2e, 0x74, 0x78, 0x74]); // "fo\xff\xfe.txt"

let dir: string;
let diff: ImageDiff;

beforeAll(async () => {
  dir = mkdtempSync(path.join(tmpdir(), "twinboot-names-"));
  const tree = path.join(dir, "tree");
  mkdirSync(path.join(tree, "many"), { recursive: true });
  mkdirSync(path.join(tree, "odd"));
  for (let i = 0; i < MANY; i++) writeFileSync(path.join(tree, "many", longName(i)), `file ${i}\n`);
  for (const name of ODD_NAMES) writeFileSync(path.join(tree, "odd", name), `${name} at home\n`);
  writeFileSync(Buffer.concat([Buffer.from(path.join(tree, "odd") + "/"), NOT_UTF8]), "latin-1 name\n");
  const raw = path.join(dir, "base.raw");
  execFileSync("truncate", ["-s", "256M", raw]);
  execFileSync("mkfs.ext4", ["-q", "-F", "-d", tree, raw]);
  // A path near PATH_MAX is made in the image itself (this machine's own path would be longer still).
  const deep = await Guestfish.open([{ file: raw, format: "raw" }], { writable: true });
  try {
    await deep.call("mount", "/dev/sda", "/");
    await deep.call("mkdir-p", DEEP_DIR);
    await deep.call("write", DEEP_FILE, "deep at home\n");
  } finally {
    await deep.close();
  }
  const base = path.join(dir, "base.qcow2");
  const next = path.join(dir, "next.qcow2");
  execFileSync("qemu-img", ["convert", "-q", "-O", "qcow2", raw, base]);
  execFileSync("qemu-img", ["create", "-q", "-f", "qcow2", "-F", "qcow2", "-b", base, next]);

  const fish = await Guestfish.open([{ file: next, format: "qcow2" }], { writable: true });
  try {
    await fish.call("mount", "/dev/sda", "/");
    const done = await fish.script(
      [
        `write ${quoteArg(`/many/${longName(7)}`)} "changed in the VM\\n"`,
        `rm ${quoteArg(`/many/${longName(4321)}`)}`,
        `write ${quoteArg(`/many/${longName(MANY)}`)} "new in the VM\\n"`,
        `touch ${quoteArg(`/many/${longName(100)}`)}`, // times only: not a change
        ...ODD_NAMES.map((name, i) => (i % 2 === 0 ? `write ${quoteArg(`/odd/${name}`)} "changed\\n"` : `rm ${quoteArg(`/odd/${name}`)}`)),
        `write ${quoteArg(`/odd/added "with" both'quotes\nand a newline`)} "new\\n"`,
        `write-append ${quoteArg(DEEP_FILE)} "changed in the VM\\n"`,
      ].map((command) => `${command}\necho ok`),
    );
    expect(done.every((output) => output?.trim() === "ok")).toBe(true);
  } finally {
    await fish.close();
  }
  diff = await diffImages({ file: base, format: "qcow2" }, { file: next, format: "qcow2" });
}, 900_000);

afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe("the diff on real names", () => {
  it("finds exactly the changes among 5,000 long names and the odd ones", () => {
    const summary = diff.changes.map((c) => `${c.change} ${c.path}`).sort();
    const expected = [
      `modified /many/${longName(7)}`,
      `deleted /many/${longName(4321)}`,
      `added /many/${longName(MANY)}`,
      ...ODD_NAMES.map((name, i) => `${i % 2 === 0 ? "modified" : "deleted"} /odd/${name}`),
      `added /odd/added "with" both'quotes\nand a newline`,
    ].sort();
    expect(summary).toEqual(expected);
  });

  it("says that a name which is not UTF-8, and a path too long for a script line, were left out, on both sides alike", () => {
    expect(Buffer.byteLength(`checksum sha256 "/twinboot-base${DEEP_FILE}"`)).toBeGreaterThan(MAX_SCRIPT_LINE_BYTES);
    expect(diff.filesystems).toEqual([
      { device: "/dev/sda", type: "ext4", compared: true, note: "1 name(s) that are not valid UTF-8 were left out; 1 path(s) too long to be read by the appliance were left out" },
    ]);
    expect(diff.changes.filter((c) => c.path.startsWith(DEEP_DIR))).toEqual([]);
  });
});
