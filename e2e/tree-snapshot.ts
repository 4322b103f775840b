// A folder tree as the specs compare it before and after apply-back: every file (content, mode,
// owner, mtime), symlink and folder (mode, owner), and the comparison that allows for how precisely
// utimes sets a time.
import { createHash } from "node:crypto";
import { lstatSync, readdirSync, readFileSync, readlinkSync } from "node:fs";
import path from "node:path";
import { expect } from "vitest";

export type Entry =
  | { type: "file"; sha256: string; mode: number; uid: number; gid: number; mtimeMs: number }
  | { type: "symlink"; target: string }
  | { type: "directory"; mode: number; uid: number; gid: number }
  | { type: "other"; mode: number; uid: number; gid: number; rdev: number };

export function sha256(data: Buffer | string): string {
  return createHash("sha256").update(data).digest("hex");
}

/** Every file, symlink, folder and special file under `root` (a lost+found at the top left out), by relative path. */
export function treeSnapshot(root: string): Record<string, Entry> {
  const out: Record<string, Entry> = {};
  const walk = (dir: string) => {
    for (const name of readdirSync(dir)) {
      const full = path.join(dir, name);
      const rel = path.relative(root, full);
      if (rel === "lost+found") continue;
      const st = lstatSync(full);
      if (st.isSymbolicLink()) out[rel] = { type: "symlink", target: readlinkSync(full) };
      else if (st.isDirectory()) {
        out[rel] = { type: "directory", mode: st.mode, uid: st.uid, gid: st.gid };
        walk(full);
      } else if (!st.isFile()) {
        // A device node, FIFO or socket (an installed system's /dev has a few): never read one.
        out[rel] = { type: "other", mode: st.mode, uid: st.uid, gid: st.gid, rdev: st.rdev };
      } else {
        out[rel] = { type: "file", sha256: sha256(readFileSync(full)), mode: st.mode, uid: st.uid, gid: st.gid, mtimeMs: st.mtimeMs };
      }
    }
  };
  walk(root);
  return out;
}

/**
 * Two snapshots are the same tree: the same entries, and times within a microsecond — utimes
 * takes a double of seconds (about 0.24 µs apart at today's times), so rounding both to the
 * microsecond could still put them on two sides of a boundary.
 */
export function expectSameTree(actual: Record<string, Entry>, expected: Record<string, Entry>) {
  const withoutTimes = (tree: Record<string, Entry>) => Object.fromEntries(Object.entries(tree).map(([p, e]) => [p, e.type === "file" ? { ...e, mtimeMs: 0 } : e]));
  expect(withoutTimes(actual)).toEqual(withoutTimes(expected));
  for (const [p, entry] of Object.entries(expected)) {
    if (entry.type === "file") expect(Math.abs((actual[p] as typeof entry).mtimeMs - entry.mtimeMs), p).toBeLessThan(0.001);
  }
}
