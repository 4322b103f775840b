// Whether libguestfs' appliance runs under KVM or TCG on this machine. /dev/kvm can exist while
// KVM is broken (QEMU aborts), or boots a kernel but not the appliance (it hangs): each would
// fail or hang every inspection and change listing. So the choice is probed on what is used: a
// real appliance launched under KVM with a deadline, after QEMU's own KVM probe (kvm-probe.ts)
// has passed. Probed once per process, and again after an appliance failed to start; the choice
// and its reason are logged.
import { probeKvmHere } from "./kvm-probe";
import { runTool, ToolError } from "./run-tool";
import { outsideWorkScope } from "./work-scope";

/** An appliance under KVM is up in a few seconds; one that is not by then is taken as hung. */
export const APPLIANCE_PROBE_DEADLINE_MS = 45_000;

export interface ApplianceBackend {
  kvm: boolean;
  /** Why, in a sentence for the log. */
  reason: string;
}

/** The environment that makes libguestfs use `backend` (direct: no libvirt in between). */
export function applianceEnv(backend: ApplianceBackend, base: NodeJS.ProcessEnv = process.env): NodeJS.ProcessEnv {
  // An administrator's own settings (a colon-separated list) are kept; only force_tcg is ours.
  const settings = (base.LIBGUESTFS_BACKEND_SETTINGS ?? "").split(":").filter((s) => s !== "" && s !== "force_tcg");
  if (!backend.kvm) settings.push("force_tcg");
  const env: NodeJS.ProcessEnv = { ...base, LIBGUESTFS_BACKEND: "direct", LIBGUESTFS_BACKEND_SETTINGS: settings.join(":") };
  if (settings.length === 0) delete env.LIBGUESTFS_BACKEND_SETTINGS;
  return env;
}

async function probe(): Promise<ApplianceBackend> {
  if (!(await probeKvmHere())) return { kvm: false, reason: "QEMU cannot boot a kernel under KVM here (or there is no /dev/kvm)" };
  const started = Date.now();
  try {
    // A scratch disk: the appliance needs one drive; nothing of the machine's is touched.
    await runTool("guestfish", ["--", "add-drive-scratch", "1M", ":", "run", ":", "quit"], {
      env: applianceEnv({ kvm: true, reason: "" }),
      timeoutMs: APPLIANCE_PROBE_DEADLINE_MS,
    });
    return { kvm: true, reason: `an appliance came up under KVM in ${((Date.now() - started) / 1000).toFixed(1)} s` };
  } catch (error) {
    if (!(error instanceof ToolError)) throw error;
    const why = Date.now() - started >= APPLIANCE_PROBE_DEADLINE_MS ? `did not come up within ${APPLIANCE_PROBE_DEADLINE_MS / 1000} s` : `failed (${error.message.split("\n")[0]})`;
    return { kvm: false, reason: `an appliance under KVM ${why}` };
  }
}

let decided: Promise<ApplianceBackend> | undefined;

/** The backend to launch appliances with: probed on first use, then remembered. */
export function applianceBackend(): Promise<ApplianceBackend> {
  decided ??= outsideWorkScope(probe).then((backend) => {
    console.log(`libguestfs appliances run under ${backend.kvm ? "KVM" : "TCG"}: ${backend.reason}.`);
    return backend;
  });
  return decided;
}

/** An appliance failed to start: the next one probes again (KVM may have broken since). */
export function forgetApplianceBackend(): void {
  decided = undefined;
}
