// The apply engine on a real directory tree standing in for the computer: three-way decisions,
// conflicts kept beside, resuming after a crash, undo byte for byte, and refusals that write
// nothing.
import { createHash } from "node:crypto";
import { execFileSync } from "node:child_process";
import { existsSync, lstatSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, readlinkSync, rmSync, statSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { Readable } from "node:stream";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { FileState } from "@/wire/changes";
import { applyChanges, type ApplyEntry, type ApplyOptions } from "./apply-changes";
import { UnsafePathError } from "./confine";
import { ApplyJournal } from "./journal";

const sha256 = (text: string) => createHash("sha256").update(text).digest("hex");
const uid = process.getuid!();
const gid = process.getgid!();
const mtime = "2026-11-20T10:00:00.000Z";
const file = (text: string, mode = 0o644): FileState => ({ type: "file", mode, uid, gid, size: text.length, mtime, sha256: sha256(text), target: null });
const dir = (mode = 0o755): FileState => ({ type: "directory", mode, uid, gid, size: null, mtime, sha256: null, target: null });
const link = (to: string): FileState => ({ type: "symlink", mode: 0o777, uid, gid, size: null, mtime, sha256: null, target: to });

let work: string;
let root: string;
let journalDir: string;
const incoming = new Map<string, string>();

function options(entries: ApplyEntry[], journal: ApplyJournal, extra: Partial<ApplyOptions> = {}): ApplyOptions {
  return {
    root,
    entries,
    journal,
    conflict: "both",
    tag: "1a2b3c4d",
    content: async (entry) => Readable.from([Buffer.from(incoming.get(entry.path)!)]),
    ...extra,
  };
}

/** Every path under the root with its content (files), target (symlinks) or "dir", and mode. */
function snapshot(): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (d: string) => {
    for (const name of readdirSync(d)) {
      const p = path.join(d, name);
      const stat = lstatSync(p);
      const key = `/${path.relative(root, p)}`;
      if (stat.isSymbolicLink()) out[key] = `-> ${readlinkSync(p)}`;
      else if (stat.isDirectory()) {
        out[key] = `dir ${(stat.mode & 0o7777).toString(8)}`;
        walk(p);
      } else out[key] = `${readFileSync(p, "utf8")} (${(stat.mode & 0o7777).toString(8)}, ${stat.mtimeMs})`;
    }
  };
  walk(root);
  return out;
}

beforeEach(() => {
  work = mkdtempSync(path.join(tmpdir(), "twinboot-apply-"));
  root = path.join(work, "computer");
  journalDir = path.join(work, "journal");
  mkdirSync(path.join(root, "etc"), { recursive: true });
  mkdirSync(path.join(root, "home/ana"), { recursive: true });
  writeFileSync(path.join(root, "etc/hostname"), "office-pc\n");
  writeFileSync(path.join(root, "etc/motd"), "welcome\n");
  writeFileSync(path.join(root, "home/ana/plan.txt"), "plan v1\n");
  writeFileSync(path.join(root, "home/ana/budget.txt"), "budget v1\n");
  writeFileSync(path.join(root, "home/ana/old.txt"), "old\n");
  incoming.clear();
});
afterEach(() => rmSync(work, { recursive: true, force: true }));

/** A session that added, modified and deleted files; at home, plan.txt was changed meanwhile. */
function sessionEntries(): ApplyEntry[] {
  incoming.set("/home/ana/report.txt", "report from the VM\n");
  incoming.set("/home/ana/plan.txt", "plan v2 from the VM\n");
  incoming.set("/home/ana/budget.txt", "budget v2\n");
  incoming.set("/home/ana/projects/a.txt", "a\n");
  return [
    { path: "/home/ana/report.txt", change: "added", before: null, after: file("report from the VM\n") },
    { path: "/home/ana/plan.txt", change: "modified", before: file("plan v1\n"), after: file("plan v2 from the VM\n") },
    { path: "/home/ana/budget.txt", change: "modified", before: file("budget v1\n"), after: file("budget v2\n", 0o600) },
    { path: "/home/ana/old.txt", change: "deleted", before: file("old\n"), after: null },
    { path: "/home/ana/projects", change: "added", before: null, after: dir(0o700) },
    { path: "/home/ana/projects/a.txt", change: "added", before: null, after: file("a\n") },
    { path: "/home/ana/latest", change: "added", before: null, after: link("report.txt") },
    { path: "/etc/motd", change: "modified", before: file("welcome\n"), after: file("welcome\n", 0o600) },
  ];
}

describe("applying a session's changes", () => {
  it("applies what did not change at home, keeps what did with the incoming copy beside it, and undoes it all", async () => {
    writeFileSync(path.join(root, "home/ana/plan.txt"), "plan v1, edited at home\n");
    const before = snapshot();
    const journal = await ApplyJournal.open(journalDir);
    const results = await applyChanges(options(sessionEntries(), journal));

    expect(Object.fromEntries(results.map((r) => [r.path, r.outcome]))).toEqual({
      "/etc/motd": "applied",
      "/home/ana/budget.txt": "applied",
      "/home/ana/latest": "applied",
      "/home/ana/plan.txt": "conflict",
      "/home/ana/projects": "applied",
      "/home/ana/projects/a.txt": "applied",
      "/home/ana/report.txt": "applied",
      "/home/ana/old.txt": "applied",
    });
    expect(results.find((r) => r.path === "/home/ana/plan.txt")).toMatchObject({ copy: "/home/ana/plan.txt.twinboot-1a2b3c4d" });
    const read = (p: string) => readFileSync(path.join(root, p), "utf8");
    expect(read("home/ana/plan.txt")).toBe("plan v1, edited at home\n");
    expect(read("home/ana/plan.txt.twinboot-1a2b3c4d")).toBe("plan v2 from the VM\n");
    expect(read("home/ana/report.txt")).toBe("report from the VM\n");
    expect(read("home/ana/projects/a.txt")).toBe("a\n");
    expect(readlinkSync(path.join(root, "home/ana/latest"))).toBe("report.txt");
    expect(existsSync(path.join(root, "home/ana/old.txt"))).toBe(false);
    expect(lstatSync(path.join(root, "home/ana/budget.txt")).mode & 0o777).toBe(0o600);
    expect(lstatSync(path.join(root, "etc/motd")).mode & 0o777).toBe(0o600);
    expect(lstatSync(path.join(root, "home/ana/report.txt")).mtime.toISOString()).toBe(mtime);
    expect(readdirSync(path.join(root, "home/ana")).filter((n) => n.includes(".twinboot-") && !n.endsWith("1a2b3c4d"))).toEqual([]);

    // Applied again (as a resumed run would): nothing more happens.
    const again = await applyChanges(options(sessionEntries(), await ApplyJournal.open(journalDir)));
    expect(again.map((r) => r.outcome)).toEqual(results.map((r) => r.outcome));

    // Undo: byte for byte, mode and times too.
    expect((await (await ApplyJournal.open(journalDir)).undo(root)).keptAside).toEqual([]);
    expect(snapshot()).toEqual(before);
  });

  // A journal on another filesystem than the files (the agent's state folder in /var, the files
  // in /home) keeps copies, whose times undo sets with utimes: to the microsecond, and the same
  // one every time the same file goes through an apply and its undo.
  const otherFilesystem = existsSync("/dev/shm") && statSync("/dev/shm").dev !== statSync(tmpdir()).dev;
  it.skipIf(!otherFilesystem)("puts a deleted file's time back to the nearest microsecond, apply after apply, with the journal on another filesystem", async () => {
    const old = path.join(root, "home/ana/old.txt");
    // A time whose microseconds a double of seconds holds a hair below the exact value.
    execFileSync("touch", ["-m", "-d", "@1764599999.123456789", old]);
    const journals = mkdtempSync("/dev/shm/twinboot-journal-");
    try {
      for (const round of [1, 2, 3]) {
        const journal = await ApplyJournal.open(path.join(journals, `request-${round}`));
        const results = await applyChanges(options([{ path: "/home/ana/old.txt", change: "deleted", before: file("old\n"), after: null }], journal));
        expect(results.map((r) => r.outcome)).toEqual(["applied"]);
        expect(existsSync(old)).toBe(false);
        await (await ApplyJournal.open(path.join(journals, `request-${round}`))).undo(root);
        expect(statSync(old, { bigint: true }).mtimeNs, `round ${round}`).toBe(1764599999123457000n);
      }
    } finally {
      rmSync(journals, { recursive: true, force: true });
    }
  });

  it("finds what is already applied, and resumes a run cut short without half-written files", async () => {
    const entries = sessionEntries();
    writeFileSync(path.join(root, "home/ana/report.txt"), "report from the VM\n"); // already there
    // A first run dies while writing budget.txt: its stream breaks half-way.
    const journal = await ApplyJournal.open(journalDir);
    const broken = options(entries, journal, {
      content: async (entry) =>
        entry.path === "/home/ana/budget.txt"
          ? Readable.from(
              (async function* () {
                yield Buffer.from("budg");
                throw new Error("the connection dropped");
              })(),
            )
          : Readable.from([Buffer.from(incoming.get(entry.path)!)]),
    });
    await expect(applyChanges(broken)).rejects.toThrow("the connection dropped");
    expect(readFileSync(path.join(root, "home/ana/budget.txt"), "utf8")).toBe("budget v1\n");
    expect(readdirSync(path.join(root, "home/ana")).filter((n) => n.startsWith("."))).toEqual([]);

    const resumed = await applyChanges(options(entries, await ApplyJournal.open(journalDir)));
    expect(resumed.find((r) => r.path === "/home/ana/report.txt")?.outcome).toBe("already-applied");
    expect(resumed.find((r) => r.path === "/home/ana/budget.txt")?.outcome).toBe("applied");
    expect(readFileSync(path.join(root, "home/ana/budget.txt"), "utf8")).toBe("budget v2\n");
  });

  it("refuses a corrupted incoming file and leaves the local one", async () => {
    incoming.set("/etc/hostname", "tampered\n");
    const entries: ApplyEntry[] = [{ path: "/etc/hostname", change: "modified", before: file("office-pc\n"), after: file("office-pc-2\n") }];
    await expect(applyChanges(options(entries, await ApplyJournal.open(journalDir)))).rejects.toThrow(/does not match its sha256/);
    expect(readFileSync(path.join(root, "etc/hostname"), "utf8")).toBe("office-pc\n");
  });

  it("refuses a change set with path traversal, an absolute path or a symlink escape, writing nothing", async () => {
    const outside = mkdtempSync(path.join(tmpdir(), "twinboot-outside-"));
    symlinkSync(outside, path.join(root, "home/ana/escape"));
    const before = snapshot();
    const good: ApplyEntry = { path: "/home/ana/fine.txt", change: "added", before: null, after: file("fine\n") };
    incoming.set(good.path, "fine\n");
    for (const bad of ["/home/ana/../../../etc/passwd", "home/ana/relative.txt", "/home/ana/escape/owned.txt"]) {
      incoming.set(bad, "owned\n");
      const entries: ApplyEntry[] = [good, { path: bad, change: "added", before: null, after: file("owned\n") }];
      await expect(applyChanges(options(entries, await ApplyJournal.open(journalDir))), bad).rejects.toThrow(UnsafePathError);
    }
    expect(snapshot()).toEqual(before);
    expect(readdirSync(outside)).toEqual([]);
    rmSync(outside, { recursive: true, force: true });
  });

  it("keeps the local version alone, or takes the session's, when asked", async () => {
    writeFileSync(path.join(root, "home/ana/plan.txt"), "edited at home\n");
    incoming.set("/home/ana/plan.txt", "from the VM\n");
    const entry: ApplyEntry = { path: "/home/ana/plan.txt", change: "modified", before: file("plan v1\n"), after: file("from the VM\n") };
    const [local] = await applyChanges(options([entry], await ApplyJournal.open(path.join(work, "j1")), { conflict: "keep-local" }));
    expect(local).toMatchObject({ outcome: "conflict" });
    expect(readdirSync(path.join(root, "home/ana")).some((n) => n.includes("twinboot"))).toBe(false);
    const [remote] = await applyChanges(options([entry], await ApplyJournal.open(path.join(work, "j2")), { conflict: "keep-remote" }));
    expect(remote).toMatchObject({ outcome: "applied" });
    expect(readFileSync(path.join(root, "home/ana/plan.txt"), "utf8")).toBe("from the VM\n");
    await (await ApplyJournal.open(path.join(work, "j2"))).undo(root);
    expect(readFileSync(path.join(root, "home/ana/plan.txt"), "utf8")).toBe("edited at home\n");
  });

  it("keeps setuid bits, turns a file into a folder, keeps a deleted folder that has files at home, and survives a torn journal", async () => {
    writeFileSync(path.join(root, "etc/tool"), "tool v1\n");
    mkdirSync(path.join(root, "home/ana/photos"));
    writeFileSync(path.join(root, "home/ana/photos/new-at-home.jpg"), "jpg");
    incoming.set("/etc/tool", "tool v2\n");
    const entries: ApplyEntry[] = [
      { path: "/etc/tool", change: "modified", before: file("tool v1\n"), after: file("tool v2\n", 0o4755) },
      { path: "/etc/motd", change: "modified", before: file("welcome\n"), after: dir(0o755) },
      { path: "/home/ana/photos", change: "deleted", before: dir(), after: null },
    ];
    await ApplyJournal.open(journalDir);
    // A crash had cut the journal's last line short: it is dropped, and new records still read back.
    writeFileSync(path.join(journalDir, "journal.jsonl"), '{"kind":"done","pa');
    const results = await applyChanges(options(entries, await ApplyJournal.open(journalDir)));
    expect(Object.fromEntries(results.map((r) => [r.path, r.outcome]))).toEqual({ "/etc/tool": "applied", "/etc/motd": "applied", "/home/ana/photos": "conflict" });
    expect(lstatSync(path.join(root, "etc/tool")).mode & 0o7777).toBe(0o4755);
    expect(lstatSync(path.join(root, "etc/motd")).isDirectory()).toBe(true);
    expect(existsSync(path.join(root, "home/ana/photos/new-at-home.jpg"))).toBe(true);
    const reread = await ApplyJournal.open(journalDir);
    expect(reread.outcomeOf(path.join(root, "etc/tool"))?.outcome).toBe("applied");

    // Edited at home after the apply: undo keeps that version beside the restored one.
    writeFileSync(path.join(root, "etc/tool"), "tool v2, edited after\n");
    const undone = await reread.undo(root);
    expect(undone.keptAside).toEqual([path.join(root, "etc/tool")]);
    expect(readFileSync(path.join(root, "etc/tool"), "utf8")).toBe("tool v1\n");
    expect(readFileSync(path.join(root, "etc/tool.twinboot-undo-kept"), "utf8")).toBe("tool v2, edited after\n");
    expect(readFileSync(path.join(root, "etc/motd"), "utf8")).toBe("welcome\n");
  });
});
