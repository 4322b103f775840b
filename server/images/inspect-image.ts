// Inspection of an image with libguestfs, in one appliance launch (guestfish in remote mode):
// the OS and its version, hostname and applications where libguestfs recognises one, and every
// filesystem with its size and use. A disk without a recognisable OS is inspected too ("no OS
// found", its filesystems listed); that is a result, never an error.
import { Guestfish } from "@/server/tools/guestfish";

export interface ImageInspection {
  os: {
    type: string;
    distro: string;
    productName: string;
    version: string;
    hostname: string;
    applications: { name: string; version: string }[];
  } | null;
  filesystems: { device: string; type: string; sizeBytes: number | null; usedBytes: number | null }[];
}

/** Lines of `key: value` (guestfish's way of printing structs and hashes) as pairs. */
function pairs(output: string): [string, string][] {
  return output
    .split("\n")
    .map((line) => line.match(/^\s*([^:]+):\s?(.*)$/))
    .filter((m): m is RegExpMatchArray => m !== null)
    .map((m) => [m[1]!.trim(), m[2]!.trim()]);
}

export async function inspectImageFile(file: string, format: "qcow2" | "raw" = "qcow2"): Promise<ImageInspection> {
  const guestfish = await Guestfish.open([{ file, format }]);
  // Any failing call ends the appliance; each call below is one that cannot fail on a healthy
  // disk, and an unexpected failure fails the inspection as a whole.
  const fish = (...args: string[]) => guestfish.call(...args);
  try {
    const filesystems: ImageInspection["filesystems"] = [];
    for (const [device, type] of pairs(await fish("list-filesystems"))) {
      if (["swap", "unknown", ""].includes(type)) {
        filesystems.push({ device, type, sizeBytes: null, usedBytes: null });
        continue;
      }
      const mounted = await fish("mount-ro", device, "/").then(
        () => true,
        () => false,
      );
      if (!mounted) {
        filesystems.push({ device, type, sizeBytes: null, usedBytes: null });
        continue;
      }
      const stat = Object.fromEntries(pairs(await fish("statvfs", "/")).map(([k, v]) => [k, Number(v)]));
      await fish("umount-all");
      const blockSize = stat.frsize ?? 0;
      filesystems.push({
        device,
        type,
        sizeBytes: (stat.blocks ?? 0) * blockSize,
        usedBytes: ((stat.blocks ?? 0) - (stat.bfree ?? 0)) * blockSize,
      });
    }
    const root = (await fish("inspect-os")).split("\n").find(Boolean);
    let os: ImageInspection["os"] = null;
    if (root) {
      const get = async (what: string) => (await fish(`inspect-get-${what}`, root)).trim();
      const applications: { name: string; version: string }[] = [];
      let current: { name: string; version: string } | null = null;
      for (const [key, value] of pairs(await fish("inspect-list-applications2", root))) {
        if (key === "app2_name") applications.push((current = { name: value, version: "" }));
        if (key === "app2_version" && current) current.version = value;
      }
      os = {
        type: await get("type"),
        distro: await get("distro"),
        productName: await get("product-name"),
        version: `${await get("major-version")}.${await get("minor-version")}`,
        hostname: await get("hostname"),
        applications,
      };
    }
    return { os, filesystems };
  } finally {
    await guestfish.close();
  }
}
