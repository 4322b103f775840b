// One changed file, as it was before the session or after it, read out of its image with
// libguestfs (an appliance launch: seconds, and memory; see appliance-slots.ts) and checked
// against the sha256 the change set recorded.
import { createHash } from "node:crypto";
import { createReadStream } from "node:fs";
import { mkdtemp, rm, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import type { Readable } from "node:stream";
import { storePath } from "@/server/images/store";
import { takeApplianceSlot } from "@/server/tools/appliance-slots";
import { Guestfish } from "@/server/tools/guestfish";
import { changedFileOrThrow } from "./change-queries";

export async function readChangedFile(ownerId: string, changeId: string, side: "before" | "after"): Promise<{ stream: Readable; size: number; fileName: string }> {
  const { change, state, imageFile } = await changedFileOrThrow(ownerId, changeId, side);
  const release = takeApplianceSlot();
  const work = await mkdtemp(path.join(tmpdir(), "twinboot-changed-file-"));
  const local = path.join(work, "file");
  try {
    const fish = await Guestfish.open([{ file: storePath(imageFile), format: "qcow2" }]);
    try {
      await fish.call("mount-ro", change.filesystem, "/");
      await fish.call("download", change.path, local);
    } finally {
      await fish.close();
    }
    const hash = createHash("sha256");
    for await (const chunk of createReadStream(local)) hash.update(chunk as Buffer);
    const sha256 = hash.digest("hex");
    if (state.sha256 && sha256 !== state.sha256) throw new Error(`${change.path} in the image does not match the change set's sha256`);
    const size = (await stat(local)).size;
    const stream = createReadStream(local);
    stream.once("close", () => void rm(work, { recursive: true, force: true }));
    return { stream, size, fileName: path.posix.basename(change.path) };
  } catch (error) {
    await rm(work, { recursive: true, force: true });
    throw error;
  } finally {
    release();
  }
}
