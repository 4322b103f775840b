// The hypervisor host the VM benchmarks run on: one network-namespace host of
// scripts/test-pool.sh, numbered 9 so that it never meets the tests' pool, with the image store
// given to its group as npm test does. A real sshd in front of a real libvirt (TCG here).
import { execFileSync } from "node:child_process";
import { chmodSync, mkdirSync, readFileSync } from "node:fs";
import path from "node:path";
import { eq } from "drizzle-orm";
import { db } from "@/db/client";
import { hypervisorHosts, type HypervisorHost } from "@/db/schema";
import { closeAllHostConnections } from "@/server/pool/host-connections";
import { addHost, removeHost } from "@/server/pool/hosts";

const root = path.resolve(import.meta.dirname, "..");
const actor = { userId: null, byUser: false };
const HOST_NAME = "bench-host";

export async function setUpBenchHost(): Promise<{ host: HypervisorHost; tearDown: () => Promise<void> }> {
  const work = process.env.BENCH_WORK_DIR!;
  const poolDir = path.join(work, "pool");
  chmodSync(work, 0o711); // the host's user reaches the store through it
  mkdirSync(poolDir, { recursive: true });
  execFileSync("bash", [path.join(root, "scripts/test-pool.sh"), "up", poolDir, "1", "9"], { stdio: ["ignore", "ignore", "inherit"] });
  const store = process.env.IMAGE_STORE_DIR!;
  mkdirSync(store, { recursive: true });
  execFileSync("chgrp", ["twinboot-store", store]);
  chmodSync(store, 0o2750);
  const [poolHost] = (JSON.parse(readFileSync(path.join(poolDir, "pool.json"), "utf8")) as { hosts: { ssh: string; key: string; libvirtUri: string }[] }).hosts;
  const added = await addHost({ name: HOST_NAME, ssh: poolHost!.ssh, privateKey: readFileSync(poolHost!.key, "utf8"), libvirtUri: poolHost!.libvirtUri }, actor);
  const [host] = await db().select().from(hypervisorHosts).where(eq(hypervisorHosts.id, added.id));
  return {
    host: host!,
    tearDown: async () => {
      await removeHost(HOST_NAME, actor).catch(() => undefined);
      closeAllHostConnections();
      execFileSync("bash", [path.join(root, "scripts/test-pool.sh"), "down", poolDir], { stdio: "ignore" });
    },
  };
}
