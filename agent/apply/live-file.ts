// A path on the live filesystem as the three-way decision sees it, and the pieces of atomic
// writes: a temporary file in the same directory, made durable, renamed over the target, the
// directory made durable (apply-changes.ts does these a batch at a time). Owner is always set
// before mode: chown clears the setuid and setgid bits, even for root.
import { createHash } from "node:crypto";
import { constants, createReadStream } from "node:fs";
import { lchown, lstat, mkdir, open, readlink, rename, rm, symlink, type FileHandle } from "node:fs/promises";
import path from "node:path";
import type { Readable } from "node:stream";
import type { FileState } from "@/wire/changes";
import { runTool } from "../run-tool";

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

/** Owner (where allowed), then mode: in that order, or chown would clear setuid and setgid. */
export async function setOwnerAndMode(handle: FileHandle, state: { mode: number; uid: number; gid: number }): Promise<void> {
  if (isRoot) await handle.chown(state.uid, state.gid);
  await handle.chmod(state.mode);
}

/** Sets owner and mode of the file or folder at `target` itself, never of what a symlink there points to. */
export async function setOwnerAndModeAt(target: string, state: { mode: number; uid: number; gid: number }): Promise<void> {
  const handle = await open(target, constants.O_RDONLY | constants.O_NOFOLLOW);
  try {
    await setOwnerAndMode(handle, state);
  } finally {
    await handle.close();
  }
}

export async function fsyncDirectory(dir: string): Promise<void> {
  const handle = await open(dir, constants.O_RDONLY | constants.O_DIRECTORY);
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/**
 * The temporary name a write to `target` uses: short whatever the name's length (so a name near
 * the 255-byte limit still fits), and the same for every run of one apply, so a resumed run
 * clears what a crash left.
 */
export function temporaryFor(target: string, tag: string): string {
  const digest = createHash("sha256").update(path.basename(target)).digest("hex").slice(0, 16);
  return path.join(path.dirname(target), `.twinboot-${tag}-${digest}.tmp`);
}

/**
 * Writes `content` to `temporary` with the state's owner, mode and mtime, checking its sha256 and
 * size (a short write on a full disk) on the way: a mismatch removes it and throws. Not yet
 * durable, not yet in place: see syncFilesystems, then rename.
 */
export async function prepareFile(temporary: string, content: Readable, state: FileState, name: string): Promise<void> {
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
      const buffer = chunk as Buffer;
      hash.update(buffer);
      for (let done = 0; done < buffer.length; ) done += (await handle.write(buffer, done)).bytesWritten;
    }
    if (!state.sha256 || hash.digest("hex") !== state.sha256) throw new Error(`${name}: the incoming file does not match its sha256 (corrupted on the way); nothing was changed`);
    if (state.size !== null && (await handle.stat()).size !== state.size) throw new Error(`${name}: only part of the file could be written (is the disk full?); nothing was changed`);
    await setOwnerAndMode(handle, state);
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

async function runSync(args: string[]): Promise<void> {
  // Writing back a whole filesystem's dirty pages can take long on a slow disk.
  await runTool("sync", args, { timeoutMs: 30 * 60_000 });
}

/**
 * Makes everything written on the filesystems holding `dirs` durable (coreutils `sync
 * --file-system`, i.e. syncfs(2), once per filesystem): one flush for a batch of files instead
 * of an fsync each, and every filesystem a batch touched (a root of / with /home apart).
 */
export async function syncFilesystems(dirs: Iterable<string>): Promise<void> {
  const byDevice = new Map<number, string>();
  for (const dir of dirs) {
    const { dev } = await lstat(dir);
    if (!byDevice.has(dev)) byDevice.set(dev, dir);
  }
  for (const dir of byDevice.values()) await runSync(["--file-system", dir]);
}

/** Replaces `target` with a symlink to `to`, atomically and durably (undo uses it). */
export async function writeSymlinkAtomically(target: string, to: string, state: FileState | null): Promise<void> {
  const temporary = temporaryFor(target, "undo");
  await prepareSymlink(temporary, to, state);
  await rename(temporary, target);
  await fsyncDirectory(path.dirname(target));
}

/**
 * Makes a folder with the state's owner, mode and mtime, or gives an existing one those. A file
 * or symlink in its place (kept in the journal already) is removed first: a symlink is never
 * followed.
 */
export async function setDirectory(target: string, state: FileState): Promise<void> {
  const existing = await lstat(target).catch(() => null);
  if (existing && !existing.isDirectory()) await rm(target);
  await mkdir(target, { recursive: true, mode: state.mode });
  const handle = await open(target, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_DIRECTORY);
  try {
    await setOwnerAndMode(handle, state);
    const mtime = new Date(state.mtime);
    await handle.utimes(mtime, mtime);
  } finally {
    await handle.close();
  }
}
