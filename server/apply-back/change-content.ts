// The new files of an apply-back request, as one tar stream for the agent: the saved image is
// opened in one libguestfs appliance, and each file is read out (into a scratch folder, one at a
// time) and added to the stream as a regular file named by its change id. The agent checks each
// against the sha256 in the manifest, so nothing here is trusted on the way. Stops, and closes
// the appliance, as soon as the agent goes away.
import { once } from "node:events";
import { createReadStream } from "node:fs";
import { mkdtemp, rm, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { pack as tarPack, type Pack } from "tar-stream";
import { storePath } from "@/server/images/store";
import { takeApplianceSlot } from "@/server/tools/appliance-slots";
import { Guestfish } from "@/server/tools/guestfish";
import type { TApplyManifestEntry } from "@/server/wire/apply-back";

export function changeContentStream(imageFile: string, files: TApplyManifestEntry[]): Pack {
  const release = takeApplianceSlot();
  const pack = tarPack();
  void (async () => {
    const scratch = await mkdtemp(path.join(tmpdir(), "twinboot-apply-content-"));
    let fish: Guestfish | null = null;
    try {
      fish = await Guestfish.open([{ file: storePath(imageFile), format: "qcow2" }]);
      let mounted: string | null = null;
      for (const file of files) {
        if (pack.destroyed) return;
        if (mounted !== file.filesystem) {
          if (mounted) await fish.call("umount-all");
          await fish.call("mount-ro", file.filesystem, "/");
          mounted = file.filesystem;
        }
        const local = path.join(scratch, file.changeId);
        await fish.call("download", file.path, local);
        const { size } = await stat(local);
        let entry!: ReturnType<typeof pack.entry>;
        const written = new Promise<void>((resolve, reject) => {
          entry = pack.entry({ name: file.changeId, size, mode: 0o600 }, (error) => (error ? reject(error) : resolve()));
        });
        for await (const chunk of createReadStream(local)) {
          if (!entry.write(chunk as Buffer)) await once(entry, "drain");
        }
        entry.end(undefined);
        await written;
        await rm(local);
      }
      pack.finalize();
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
