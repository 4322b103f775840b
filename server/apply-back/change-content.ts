// The new files of an apply-back request, as one tar stream for the agent: the saved image is
// opened in one libguestfs appliance, and each file is read out a chunk at a time (into a scratch
// folder) and added to the stream as a regular file named by its change id. The agent checks each
// against the sha256 in the manifest, so nothing here is trusted on the way. Stops, and closes
// the appliance, as soon as the agent goes away.
import { once } from "node:events";
import { createReadStream } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { pack as tarPack, type Pack } from "tar-stream";
import { storePath } from "@/server/images/store";
import { takeApplianceSlot } from "@/server/tools/appliance-slots";
import { Guestfish } from "@/server/tools/guestfish";
import type { TApplyManifestEntry } from "@/wire/apply-back";

/** Read out of the image this much at a time: the agent hears bytes every few seconds, and scratch space stays small. */
const CHUNK_BYTES = 32 * 1024 * 1024;

export function changeContentStream(imageFile: string, files: TApplyManifestEntry[]): Pack {
  const release = takeApplianceSlot();
  const pack = tarPack();
  // streamx destroys an entry without an error when the reader goes away: it then never drains.
  const gone = new Promise<void>((resolve) => pack.once("close", () => resolve()));
  const stopped = () => pack.destroying || pack.destroyed;
  void (async () => {
    const scratch = await mkdtemp(path.join(tmpdir(), "twinboot-apply-content-"));
    let fish: Guestfish | null = null;
    try {
      fish = await Guestfish.open([{ file: storePath(imageFile), format: "qcow2" }]);
      let mounted: string | null = null;
      for (const file of files) {
        if (stopped()) return;
        if (mounted !== file.filesystem) {
          if (mounted) await fish.call("umount-all");
          await fish.call("mount-ro", file.filesystem, "/");
          mounted = file.filesystem;
        }
        // The size is the manifest's: a file that is not that size in the image ends the stream
        // short, and the agent, which checks size and sha256, refuses it.
        const size = file.after!.size ?? 0;
        let entry!: ReturnType<typeof pack.entry>;
        const written = new Promise<void>((resolve, reject) => {
          entry = pack.entry({ name: file.changeId, size, mode: 0o600 }, (error) => (error ? reject(error) : resolve()));
        });
        written.catch(() => undefined); // awaited below unless the reader went away
        const local = path.join(scratch, "chunk");
        for (let offset = 0; offset < size && !stopped(); offset += CHUNK_BYTES) {
          await fish.call("download-offset", file.path, local, String(offset), String(Math.min(CHUNK_BYTES, size - offset)));
          for await (const chunk of createReadStream(local)) {
            if (!entry.write(chunk as Buffer)) await Promise.race([once(entry, "drain"), gone]);
            if (stopped()) return;
          }
        }
        entry.end(undefined);
        await Promise.race([written, gone]);
      }
      if (!stopped()) pack.finalize();
    } catch (error) {
      console.error(`Reading ${files.length} changed files out of ${imageFile} failed:`, error);
      pack.destroy(new Error("The server could not read the changed files out of the saved image."));
    } finally {
      await fish?.close().catch(() => undefined);
      await rm(scratch, { recursive: true, force: true });
      release();
    }
  })();
  return pack;
}
