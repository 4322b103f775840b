// A path on the live filesystem as the three-way decision sees it, and the pieces of atomic
// writes: a temporary file in the same directory, made durable, renamed over the target, the
// directory made durable (apply-changes.ts does these a batch at a time).
import { execFile } from "node:child_process";
import { createHash } from "node:crypto";
import { createReadStream } from "node:fs";
import { lstat, mkdir, open, readlink, rename, rm, symlink, utimes, chown, lchown } from "node:fs/promises";
import path from "node:path";
import type { Readable } from "node:stream";
import type { FileState } from "@/server/wire/changes";

export interface LiveState {
  type: FileState["type"];
  mode: number;
  uid: number;
  gid: number;
  size: number;
  mtimeMs: number;
  sha256: string | null;
  target: string | null;
}

const isRoot = process.getuid?.() === 0;

export async function sha256OfFile(file: string): Promise<string> {
  const hash = createHash("sha256");
  for await (const chunk of createReadStream(file)) hash.update(chunk as Buffer);
  return hash.digest("hex");
}

/** The path as it is now, or null when nothing is there. Files are hashed. */
export async function liveState(target: string): Promise<LiveState | null> {
  const stat = await lstat(target).catch((error: NodeJS.ErrnoException) => {
    if (error.code === "ENOENT" || error.code === "ENOTDIR") return null;
    throw error;
  });
  if (!stat) return null;
  const type = stat.isFile() ? "file" : stat.isDirectory() ? "directory" : stat.isSymbolicLink() ? "symlink" : "other";
  return {
    type,
    mode: stat.mode & 0o7777,
    uid: stat.uid,
    gid: stat.gid,
    size: stat.size,
    mtimeMs: stat.mtimeMs,
    sha256: type === "file" ? await sha256OfFile(target) : null,
    target: type === "symlink" ? await readlink(target) : null,
  };
}

/** Whether the live path is what `state` describes, as far as content goes (null: nothing there). */
export function sameContent(live: LiveState | null, state: FileState | null): boolean {
  if (!live || !state) return !live && !state;
  if (live.type !== state.type) return false;
  if (state.type === "file") return live.sha256 === state.sha256;
  if (state.type === "symlink") return live.target === state.target;
  return state.type === "directory";
}

/** Content, and mode and owner too (owner only where this process may set it). */
export function sameState(live: LiveState | null, state: FileState | null): boolean {
  if (!sameContent(live, state) || !live || !state) return sameContent(live, state);
  return live.mode === state.mode && (!isRoot || (live.uid === state.uid && live.gid === state.gid));
}

export async function fsyncDirectory(dir: string): Promise<void> {
  const handle = await open(dir, "r");
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/** The temporary name a write to `target` uses: the same for every run of one apply, so a resumed run clears what a crash left. */
export function temporaryFor(target: string, tag: string): string {
  return path.join(path.dirname(target), `.${path.basename(target)}.twinboot-${tag}.tmp`);
}

/**
 * Writes `content` to `temporary` with the state's mode, owner and mtime, checking its sha256 on
 * the way (a mismatch removes it and throws). Not yet durable, not yet in place: see
 * syncFilesystem, then rename.
 */
export async function prepareFile(temporary: string, content: Readable, state: FileState): Promise<void> {
  // Exclusive create (never following a link someone put at that name); a leftover of a crashed
  // run is removed first, and a missing folder made.
  const handle = await open(temporary, "wx", 0o600).catch(async (error: NodeJS.ErrnoException) => {
    if (error.code === "EEXIST") await rm(temporary, { force: true });
    else if (error.code === "ENOENT") await mkdir(path.dirname(temporary), { recursive: true });
    else throw error;
    return open(temporary, "wx", 0o600);
  });
  try {
    const hash = createHash("sha256");
    for await (const chunk of content) {
      hash.update(chunk as Buffer);
      await handle.write(chunk as Buffer);
    }
    if (state.sha256 && hash.digest("hex") !== state.sha256) {
      throw new Error(`${path.basename(temporary).slice(1).replace(/\.twinboot-.*$/, "")}: the incoming file does not match its sha256 (corrupted on the way); nothing was changed`);
    }
    await handle.chmod(state.mode);
    if (isRoot) await handle.chown(state.uid, state.gid);
    const mtime = new Date(state.mtime);
    await handle.utimes(mtime, mtime);
  } catch (error) {
    await handle.close().catch(() => undefined);
    await rm(temporary, { force: true });
    throw error;
  }
  await handle.close();
}

/** A symlink to `to` at `temporary`, to be renamed into place. */
export async function prepareSymlink(temporary: string, to: string, state: FileState | null): Promise<void> {
  await mkdir(path.dirname(temporary), { recursive: true });
  await rm(temporary, { force: true });
  await symlink(to, temporary);
  if (isRoot && state) await lchown(temporary, state.uid, state.gid);
}

/**
 * Makes everything written on the filesystem holding `dir` durable at once (coreutils
 * `sync --file-system`, i.e. syncfs(2)): one flush for a batch of files instead of an fsync each.
 */
export async function syncFilesystem(dir: string): Promise<void> {
  await runSync(["--file-system", dir]);
}

function runSync(args: string[]): Promise<void> {
  return new Promise((resolve, reject) => {
    execFile("sync", args, (error) => (error ? reject(new Error(`sync ${args.join(" ")} failed: ${error.message}`)) : resolve()));
  });
}

/** Replaces `target` with a symlink to `to`, atomically and durably (undo uses it). */
export async function writeSymlinkAtomically(target: string, to: string, state: FileState | null): Promise<void> {
  const temporary = temporaryFor(target, "undo");
  await prepareSymlink(temporary, to, state);
  await rename(temporary, target);
  await fsyncDirectory(path.dirname(target));
}

/** Makes a directory with the state's mode and owner, or gives an existing one that mode and owner. */
export async function setDirectory(target: string, state: FileState): Promise<void> {
  await mkdir(target, { recursive: true, mode: state.mode });
  const handle = await open(target, "r");
  try {
    await handle.chmod(state.mode);
    if (isRoot) await chown(target, state.uid, state.gid);
  } finally {
    await handle.close();
  }
  const mtime = new Date(state.mtime);
  await utimes(target, mtime, mtime);
}
