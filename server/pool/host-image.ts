// qemu-img on a hypervisor host, over its pooled SSH connection: files made there belong to the
// host's own user, so its QEMU owns what it writes. Paths are the store's, which both share.
import type { HypervisorHost } from "@/db/schema";
import { overlayCreateArgs } from "@/server/images/qcow2";
import { runOnHostOrThrow } from "./remote-command";

/** A qcow2 overlay on `backingFile` (named relative to the overlay's folder), made on the host. */
export async function overlayCreateOnHost({ host, file, backingFile }: { host: HypervisorHost; file: string; backingFile: string }): Promise<void> {
  await runOnHostOrThrow(host, ["qemu-img", ...overlayCreateArgs({ file, backingFile })], { command: "qemu-img create" });
}

/** A full copy of `source`'s chain into a standalone qcow2 `file`, made on the host. */
export async function imageConvertOnHost({ host, source, file, timeoutMs }: { host: HypervisorHost; source: string; file: string; timeoutMs?: number }): Promise<void> {
  await runOnHostOrThrow(host, ["qemu-img", "convert", "-O", "qcow2", source, file], { command: "qemu-img convert", timeoutMs });
}
