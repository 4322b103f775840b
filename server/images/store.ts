// The image store: a directory, seen at the same path by every hypervisor host, holding one
// folder per machine with its qcow2 files. An incremental's backing file is named relative to
// its own folder, so the store can move. A ready image is read-only and never overwritten.
import { constants } from "node:fs";
import { chmod, chown, link, mkdir, open, readFile, rm, unlink } from "node:fs/promises";
import path from "node:path";
import { env } from "@/server/env";
import { ConflictError } from "@/server/errors";

/** The longest UNIX socket path (NBD exports, VNC screens): sockaddr_un.sun_path holds 108 bytes including the terminating NUL. */
export const MAX_SOCKET_PATH_BYTES = 107;

export function storeRoot(): string {
  return env().IMAGE_STORE_DIR;
}

/** The absolute path of a file named relative to the store. */
export function storePath(relative: string): string {
  const full = path.resolve(storeRoot(), relative);
  if (!full.startsWith(storeRoot() + path.sep)) throw new Error(`Image path escapes the store: ${relative}`);
  return full;
}

export function imageFileName(machineId: string, imageId: string): string {
  return path.join(machineId, `${imageId}.qcow2`);
}

/** An upload's file sits beside the images it may back onto, under a name no image can have. */
export function uploadFileName(machineId: string, uploadId: string): string {
  return path.join(machineId, `.upload-${uploadId}.qcow2`);
}

/** The numeric id of IMAGE_STORE_GROUP, looked up once. */
let storeGid: Promise<number | null> | undefined;
function storeGroupId(): Promise<number | null> {
  const group = env().IMAGE_STORE_GROUP;
  storeGid ??= group
    ? readFile("/etc/group", "utf8").then((text) => {
        const line = text.split("\n").find((l) => l.startsWith(`${group}:`));
        if (!line) throw new Error(`IMAGE_STORE_GROUP names the group ${group}, which does not exist on this machine.`);
        return Number(line.split(":")[2]);
      })
    : Promise.resolve(null);
  return storeGid;
}

/**
 * A machine's folder: root's alone (0750), or shared with the hypervisors' QEMU through
 * IMAGE_STORE_GROUP (setgid 2770, so every file made there, by the server or a host, is the group's).
 */
export async function ensureMachineDir(machineId: string): Promise<string> {
  return ensureStoreDir(machineId);
}

/** A folder of the store, made as ensureMachineDir describes. */
export async function ensureStoreDir(relative: string): Promise<string> {
  const dir = storePath(relative);
  await mkdir(dir, { recursive: true, mode: 0o750 });
  const gid = await storeGroupId();
  if (gid !== null) {
    await chown(dir, -1, gid);
    await chmod(dir, 0o2770);
  }
  return dir;
}

async function fsyncPath(file: string, flags = constants.O_RDONLY): Promise<void> {
  const handle = await open(file, flags);
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/**
 * Makes a finished upload a ready image file: fsync it, make it read-only, give it its final
 * name (a hard link, which fails rather than replace an existing file), drop the temporary name,
 * fsync the folder. A crash before the link leaves only the upload file; after it, both names,
 * and the upload's record tells recovery which to keep.
 */
export async function sealImageFile(uploadRelative: string, imageRelative: string): Promise<void> {
  const from = storePath(uploadRelative);
  const to = storePath(imageRelative);
  await fsyncPath(from);
  await chmod(from, 0o444);
  try {
    await link(from, to);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "EEXIST") {
      throw new ConflictError(`The image store already holds ${imageRelative}; it is never overwritten.`);
    }
    throw error;
  }
  await unlink(from);
  await fsyncPath(path.dirname(to));
}

export async function removeStoreFile(relative: string): Promise<void> {
  await rm(storePath(relative), { force: true });
}
