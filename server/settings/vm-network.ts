// The administrator's choice of network for VMs, for the whole installation: none (the default),
// or NAT — each VM alone behind a NAT of its own, made by QEMU's user-mode networking on its host
// (libvirt <interface type='user'>). Such a VM reaches out (the internet, and whatever the host
// itself reaches) but nothing reaches in, and it does not see other VMs: there is no bridge.
// Caveat, shown to the admin: the NAT's gateway address (10.0.2.2) leads to the host's own
// loopback, so a host that offers VMs this network should run no open services on 127.0.0.1.
// A session keeps the network it started with.
import { db } from "@/db/client";
import { appSettings } from "@/db/schema";
import type { VmNetwork } from "@/wire/enums";
import { recordAudit } from "@/server/audit/record-audit";
import type { RequestMeta } from "@/server/request-meta";

export async function getVmNetwork(): Promise<VmNetwork> {
  const [row] = await db().select({ vmNetwork: appSettings.vmNetwork }).from(appSettings);
  return row?.vmNetwork ?? "none";
}

export async function setVmNetwork(vmNetwork: VmNetwork, actor: { userId: string | null; meta?: RequestMeta; byUser?: boolean }): Promise<VmNetwork> {
  return db().transaction(async (tx) => {
    await tx
      .insert(appSettings)
      .values({ vmNetwork })
      .onConflictDoUpdate({ target: appSettings.id, set: { vmNetwork, updatedAt: new Date() } });
    await recordAudit(tx, { userId: actor.userId, action: "vm_network_changed", meta: actor.meta, byUser: actor.byUser, detail: { vmNetwork } });
    return vmNetwork;
  });
}
