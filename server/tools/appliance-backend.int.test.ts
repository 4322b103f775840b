// The libguestfs backend probe, both ways, on real appliances. A host whose KVM boots a kernel
// but never brings an appliance up is simulated with a QEMU wrapper (as LIBGUESTFS_HV and first
// on PATH, which is all the product reads): it passes QEMU's KVM probe and hangs the appliance's
// launch under KVM. The product must fall back to TCG within the probe's deadline, kill the hung
// QEMU, and its jobs must complete. A host where the appliance comes up under KVM is simulated
// too (the wrapper runs the launch under TCG, but the product sees it come up under "KVM"); and
// the machine's own answer is used as it is.
import { execFileSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { eq } from "drizzle-orm";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { db } from "@/db/client";
import { images, users } from "@/db/schema";
import { inspectImageJob } from "@/server/images/inspection-job";
import { settleJob } from "@/server/jobs/runner";
import { createMachine } from "@/server/machines/machines";
import { createTestUser } from "@/server/testing/accounts";
import { addFixtureImage } from "@/server/testing/fixture-image";
import { APPLIANCE_PROBE_DEADLINE_MS, applianceBackend, forgetApplianceBackend } from "./appliance-backend";

const realEnv = { PATH: process.env.PATH, LIBGUESTFS_HV: process.env.LIBGUESTFS_HV };
const wrappers = mkdtempSync(path.join(tmpdir(), "twinboot-hv-"));
/** Names the hung QEMUs of this run, to find any left behind. */
const hungName = `twinboot-hung-appliance-${randomBytes(4).toString("hex")}`;

/** Puts a qemu-system-x86_64 wrapper in front of the real one; `onKvmLaunch` is its answer to an appliance launch under KVM. */
function simulateHost(onKvmLaunch: string) {
  const dir = mkdtempSync(path.join(wrappers, "bin-"));
  const wrapper = path.join(dir, "qemu-system-x86_64");
  writeFileSync(
    wrapper,
    `#!/bin/bash
args=" $* "
# QEMU's own KVM probe (kvm-probe.ts): the kernel boots and panics, as on a host where KVM half works.
[[ $args == *" -accel kvm "* ]] && exit 0
[[ $args == *" -kernel "* && $args == *accel=kvm* ]] && { ${onKvmLaunch}; }
exec /usr/bin/qemu-system-x86_64 "$@"
`,
  );
  chmodSync(wrapper, 0o755);
  process.env.PATH = `${dir}:${realEnv.PATH}`;
  process.env.LIBGUESTFS_HV = wrapper;
  forgetApplianceBackend();
}

function hungQemus(): string {
  try {
    return execFileSync("pgrep", ["-af", hungName], { encoding: "utf8" });
  } catch {
    return ""; // pgrep exits 1 when nothing matches
  }
}

let ownerId: string;
let machineId: string;

beforeAll(async () => {
  ownerId = (await createTestUser()).id;
  machineId = (await createMachine({ ownerId, name: "probe-pc" }, undefined, false)).machine.id;
}, 120_000);

afterEach(() => {
  process.env.PATH = realEnv.PATH;
  if (realEnv.LIBGUESTFS_HV === undefined) delete process.env.LIBGUESTFS_HV;
  else process.env.LIBGUESTFS_HV = realEnv.LIBGUESTFS_HV;
  forgetApplianceBackend();
});

afterAll(async () => {
  await db().delete(users).where(eq(users.id, ownerId));
  rmSync(wrappers, { recursive: true, force: true });
});

/** An image as an agent sends it, inspected by the job as the product runs it. */
async function inspectNewImage() {
  const imageId = await addFixtureImage(machineId);
  await db().update(images).set({ inspectionState: "pending", inspection: null }).where(eq(images.id, imageId));
  const jobId = await inspectImageJob.enqueue({ imageId });
  const job = await settleJob(inspectImageJob, jobId);
  const [image] = await db().select().from(images).where(eq(images.id, imageId));
  return { job, image: image! };
}

describe("the libguestfs backend", () => {
  it("falls back to TCG when an appliance hangs under KVM, kills it, and the jobs complete", async () => {
    simulateHost(`exec -a ${hungName} sleep 3600`);
    const backend = await applianceBackend();
    expect(backend).toEqual({ kvm: false, reason: `an appliance under KVM did not come up within ${APPLIANCE_PROBE_DEADLINE_MS / 1000} s` });
    expect(hungQemus()).toBe("");

    const { job, image } = await inspectNewImage();
    expect(job).toMatchObject({ state: "done", attempts: 1 });
    expect(image.inspectionState).toBe("done");
    expect(image.inspection).toMatchObject({ filesystems: [{ device: "/dev/sda1", type: "ext4" }] });
    expect(hungQemus()).toBe("");
  }, 600_000);

  it("uses KVM when an appliance comes up under it", async () => {
    // The launch runs under TCG (this machine's KVM may not work), but to the product it came up as asked.
    simulateHost(`set -- "\${@/accel=kvm:tcg/accel=tcg}"`);
    const backend = await applianceBackend();
    expect(backend.kvm).toBe(true);
    expect(backend.reason).toMatch(/^an appliance came up under KVM in [\d.]+ s$/);
    const { job } = await inspectNewImage();
    expect(job).toMatchObject({ state: "done", attempts: 1 });
  }, 600_000);

  it("decides on this machine as it is, and inspects with what it decided", async () => {
    const backend = await applianceBackend();
    expect(backend.reason).toMatch(backend.kvm ? /came up under KVM/ : /QEMU cannot boot a kernel under KVM|appliance under KVM/);
    const { job } = await inspectNewImage();
    expect(job).toMatchObject({ state: "done", attempts: 1 });
  }, 600_000);
});
