// Every child process the server starts for long work (guestfish and its appliance, qemu-img,
// qemu-storage-daemon) carries two tags in its environment, which its own children inherit even
// when they daemonize or leave the process group (guestfish --listen, the appliance's QEMU):
//   TWINBOOT_OWNER — this process (pid and start time, so a reused pid is not mistaken for it);
//   TWINBOOT_WORK  — the job attempt it belongs to, when it runs inside one (work-scope.ts).
// A job past its deadline has every process with its work tag killed; a process that finds the
// owner of tagged processes dead (a server killed with SIGKILL) kills them and removes the owner's
// temporary folder. Linux only: it reads /proc.
import { readdirSync, readFileSync, readlinkSync } from "node:fs";
import { mkdir, readdir, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";

const OWNER_VAR = "TWINBOOT_OWNER";
const WORK_VAR = "TWINBOOT_WORK";
/** Children's temporary files (libguestfs' own included) go here, one folder per owner. */
const WORK_ROOT = path.join(tmpdir(), "twinboot-work");
/** A SIGTERM first lets qemu-storage-daemon flush; what still runs after this is killed. */
const TERM_GRACE_MS = 3_000;

/** Field 22 of /proc/PID/stat: when the process started, in clock ticks since boot. */
function startTimeOf(pid: number | "self"): string | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    // The command name (field 2) is in parentheses and may itself hold spaces or parentheses.
    return stat.slice(stat.lastIndexOf(")") + 2).split(" ")[19] ?? null;
  } catch {
    return null;
  }
}

/** The PID namespace (its inode): a pid means something only inside it (containers). */
function pidNamespace(): string {
  try {
    return /\[(\d+)\]/.exec(readlinkSync("/proc/self/ns/pid"))?.[1] ?? "0";
  } catch {
    return "0";
  }
}
const PID_NAMESPACE = pidNamespace();

/** This process's tag: pidnamespace.pid.starttime. */
export const OWNER_TAG = `${PID_NAMESPACE}.${process.pid}.${startTimeOf("self") ?? "0"}`;

/**
 * Whether the process a tag names is still the one that wrote it. A tag from another PID
 * namespace (another container on this machine) cannot be checked from here: it counts as alive,
 * and only its job heartbeats going stale tell otherwise.
 */
export function ownerAlive(tag: string): boolean {
  const [namespace, pid, start] = tag.split(".");
  if (namespace !== PID_NAMESPACE) return true;
  return Number(pid) > 0 && startTimeOf(Number(pid)) === start;
}

/** This process's folder for its children's temporary files. */
export const ownerWorkDir = path.join(WORK_ROOT, OWNER_TAG);

export async function ensureOwnerWorkDir(): Promise<string> {
  await mkdir(ownerWorkDir, { recursive: true, mode: 0o700 });
  return ownerWorkDir;
}

/**
 * The environment for a child: the tags, and temporary files in this owner's folder. libguestfs
 * keeps its appliance cache in TMPDIR unless told otherwise; it is pinned to where it was so that
 * the appliance is not built again for every process.
 */
export async function childEnv(base: NodeJS.ProcessEnv, workTag: string | undefined): Promise<NodeJS.ProcessEnv> {
  await ensureOwnerWorkDir();
  return {
    ...base,
    [OWNER_VAR]: OWNER_TAG,
    ...(workTag ? { [WORK_VAR]: workTag } : {}),
    LIBGUESTFS_CACHEDIR: base.LIBGUESTFS_CACHEDIR ?? base.TMPDIR ?? "/var/tmp",
    TMPDIR: ownerWorkDir,
  };
}

/** The tags of a running process, or null when it has none (or is gone, or not ours to read). */
function tagsOf(pid: number): { owner?: string; work?: string } | null {
  let environ: string;
  try {
    environ = readFileSync(`/proc/${pid}/environ`, "latin1");
  } catch {
    return null;
  }
  const tags: { owner?: string; work?: string } = {};
  for (const entry of environ.split("\0")) {
    if (entry.startsWith(`${OWNER_VAR}=`)) tags.owner = entry.slice(OWNER_VAR.length + 1);
    else if (entry.startsWith(`${WORK_VAR}=`)) tags.work = entry.slice(WORK_VAR.length + 1);
  }
  return tags.owner ? tags : null;
}

function processIds(): number[] {
  try {
    return readdirSync("/proc").filter((entry) => /^\d+$/.test(entry)).map(Number).filter((pid) => pid !== process.pid);
  } catch {
    return [];
  }
}

function signal(pid: number, name: NodeJS.Signals) {
  try {
    process.kill(pid, name);
  } catch {
    // already gone
  }
}

/**
 * SIGTERM, a grace period, then SIGKILL for whatever still runs — each pid only while it is the
 * same process (its start time unchanged), never one that took a freed pid. Returns how many.
 */
async function stop(pids: number[]): Promise<number> {
  const started = new Map(pids.map((pid) => [pid, startTimeOf(pid)]));
  const same = (pid: number) => started.get(pid) !== null && startTimeOf(pid) === started.get(pid);
  for (const pid of pids) if (same(pid)) signal(pid, "SIGTERM");
  for (const deadline = Date.now() + TERM_GRACE_MS; Date.now() < deadline && pids.some(same); ) {
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  for (const pid of pids) if (same(pid)) signal(pid, "SIGKILL");
  return pids.length;
}

/** Kills every process of one job attempt, wherever it went (daemons, appliances). */
export async function killWork(workTag: string): Promise<number> {
  return stop(processIds().filter((pid) => tagsOf(pid)?.work === workTag));
}

/**
 * Kills the processes of owners that are gone and removes those owners' temporary folders.
 * Run at start and every minute by every server and worker, so a killed process's leftovers do
 * not outlive the next live one on the machine. Returns what it did, for the log.
 */
export async function sweepOrphans(): Promise<{ processes: number; folders: number }> {
  const orphans = processIds().filter((pid) => {
    const owner = tagsOf(pid)?.owner;
    return owner !== undefined && owner !== OWNER_TAG && !ownerAlive(owner);
  });
  const processes = await stop(orphans);
  let folders = 0;
  for (const entry of await readdir(WORK_ROOT).catch(() => [] as string[])) {
    if (entry === OWNER_TAG || ownerAlive(entry)) continue;
    await rm(path.join(WORK_ROOT, entry), { recursive: true, force: true });
    folders++;
  }
  return { processes, folders };
}

/** For tests: the pids tagged with this work tag (still running). */
export async function processesOfWork(workTag: string): Promise<number[]> {
  const found: number[] = [];
  for (const pid of processIds()) {
    const tags = tagsOf(pid);
    if (tags?.work === workTag && (await readFile(`/proc/${pid}/stat`, "utf8").catch(() => null))) found.push(pid);
  }
  return found;
}
