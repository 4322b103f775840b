// The test pool (scripts/test-pool.sh, described in TEST_POOL by npm test) as e2e specs use it:
// a spec registers one of its hosts under a name of its own for its duration.
import { readFileSync } from "node:fs";
import { afterAll, beforeAll } from "vitest";
import { closeAllHostConnections } from "@/server/pool/host-connections";
import { addHost, removeHost } from "@/server/pool/hosts";
import { discardHostSessions } from "@/server/testing/discard-host-sessions";

export interface PoolHost {
  name: string;
  ssh: string;
  key: string;
  libvirtUri: string;
}

export function poolHosts(): PoolHost[] {
  const poolFile = process.env.TEST_POOL;
  if (!poolFile) throw new Error("TEST_POOL is not set: run the tests with npm test, which starts the test pool.");
  return (JSON.parse(readFileSync(poolFile, "utf8")) as { hosts: PoolHost[] }).hosts;
}

/** Registers the pool's first host as `<prefix>-<random>` before the spec's tests, and removes it after. */
export function usePoolHost(prefix: string): string {
  const [host] = poolHosts();
  const name = `${prefix}-${Math.random().toString(36).slice(2, 8)}`;
  const actor = { userId: null, byUser: false };
  beforeAll(async () => {
    await addHost({ name, ssh: host!.ssh, privateKey: readFileSync(host!.key, "utf8"), libvirtUri: host!.libvirtUri }, actor);
  }, 60_000);
  afterAll(async () => {
    // A failed test may leave its VM running: discard it, or the host could not be removed.
    await discardHostSessions([name]);
    await removeHost(name, actor);
    closeAllHostConnections();
  }, 60_000);
  return name;
}
