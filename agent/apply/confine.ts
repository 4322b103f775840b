// Keeping a change set inside the root it is applied to. A path must be absolute within the
// filesystem the change set is for ("/etc/hostname"), with no empty, "." or ".." segment and no NUL; and no
// directory on the way to it may be a symlink that leads out of the root (checked against the
// live filesystem: for the whole change set before anything is written, and again for each
// batch right before its files are written and again before they are renamed into place).
// Anything else is refused, naming the path. What remains is the window between such a check and
// the write itself, which only openat/renameat relative to a held directory would close; Node
// has neither, so a local user who can swap a folder for a symlink in that instant is not stopped.
import { lstat, realpath } from "node:fs/promises";
import path from "node:path";

export class UnsafePathError extends Error {}

/** The path under `root` for a change's path, or UnsafePathError; lexical checks only. */
export function resolveUnder(root: string, changePath: string): string {
  if (!changePath.startsWith("/")) throw new UnsafePathError(`${JSON.stringify(changePath)} is not an absolute path in the machine's filesystem; refused.`);
  if (changePath.includes("\0")) throw new UnsafePathError(`${JSON.stringify(changePath)} contains a NUL byte; refused.`);
  const segments = changePath.slice(1).split("/");
  if (segments.some((s) => s === "" || s === "." || s === "..")) {
    throw new UnsafePathError(`${JSON.stringify(changePath)} has an empty, "." or ".." segment: it could lead outside ${root}; refused.`);
  }
  return path.join(root, ...segments);
}

/**
 * Checks that every existing directory between `root` and the target is inside the root once
 * symlinks are followed (the target itself may be a symlink: it is replaced, never followed).
 * `checked` remembers directories found inside, for a check of many paths in one pass.
 */
export async function assertConfined(root: string, target: string, checked?: Set<string>): Promise<void> {
  const realRoot = await realpath(root);
  let dir = path.dirname(target);
  const chain: string[] = [];
  while (dir.length >= root.length && dir !== path.dirname(dir)) {
    chain.unshift(dir);
    if (dir === root) break;
    dir = path.dirname(dir);
  }
  for (const step of chain) {
    if (checked?.has(step)) continue;
    const stat = await lstat(step).catch(() => null);
    if (!stat) return; // the rest is missing: it will be made as real directories, inside
    const real = await realpath(step);
    if (real !== realRoot && !real.startsWith(`${realRoot}/`)) {
      throw new UnsafePathError(`${path.relative(root, target)}: ${path.relative(root, step) || "."} leads to ${real}, outside ${root}; refused.`);
    }
    checked?.add(step);
  }
}
