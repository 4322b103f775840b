// Test helper: one guestfish command on a filesystem of an image, through the product's own
// appliance (its backend probe and deadlines) — never guestfish with settings of a test's own.
import { Guestfish, type GuestfishDisk } from "@/server/tools/guestfish";

/** The output of `command` with `device` (default the first partition) mounted read-only at /. */
export async function inImage(image: string, command: string[], { device = "/dev/sda1", format = "qcow2" }: { device?: string; format?: GuestfishDisk["format"] } = {}): Promise<string> {
  const fish = await Guestfish.open([{ file: image, format }]);
  try {
    await fish.call("mount-ro", device, "/");
    return await fish.call(...command);
  } finally {
    await fish.close();
  }
}
