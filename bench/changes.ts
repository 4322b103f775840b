// Benchmark: the change list of a session on the installed Debian PC fixture (debootstrap with
// systemd, thousands of files under /usr and /var/lib/dpkg) that changed 100 files — 40 added
// in alice's Documents, 40 modified and 20 deleted under /usr/share/doc, and 10 more only touched
// (times, not content: not a change) — ours (server/changes/diff-images.ts) vs virt-diff (Debian's
// libguestfs-tools) on the same two images in one run, with the same appliance backend (the
// product's probe decides; both are given its choice). virt-diff runs as people run it: its
// default finds changed files by size and times and prints the content diff of each (with
// --checksum it hashes every file of both images instead: tens of minutes under TCG). Alternating
// rounds; medians. Run: npm run bench -- changes. The last line is one JSON object.
//
// changes_equal compares what each found as added, deleted and content-changed paths (files and
// symlinks; directories left out). virt-diff also reports files whose times alone changed: a "="
// entry with an empty content diff is such a one, and is left out.
import { execFileSync } from "node:child_process";
import { mkdirSync } from "node:fs";
import path from "node:path";
import { diffImages } from "@/server/changes/diff-images";
import { applianceBackend, applianceEnv } from "@/server/tools/appliance-backend";
import { Guestfish, quoteArg } from "@/server/tools/guestfish";
import { runTool } from "@/server/tools/run-tool";
import { debianPcImage } from "@/server/testing/fixture-image";

const ROUNDS = 3;
const work = path.join(process.env.BENCH_WORK_DIR!, "changes");
const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;
const seconds = (started: bigint) => Number(process.hrtime.bigint() - started) / 1e9;
const round = (value: number, digits = 3) => Number(value.toFixed(digits));

/** The session: 100 changes (and 10 touches) made through an appliance, as a VM would leave them. */
async function makeSession(base: string, next: string): Promise<string[]> {
  execFileSync("qemu-img", ["create", "-q", "-f", "qcow2", "-F", "qcow2", "-b", base, next]);
  const fish = await Guestfish.open([{ file: next, format: "qcow2" }], { writable: true });
  try {
    const roots = (await fish.call("inspect-os")).split("\n").filter(Boolean);
    const mounts = (await fish.call("inspect-get-mountpoints", roots[0]!)).split("\n").filter(Boolean).map((line) => line.split(": "));
    for (const [mountPoint, device] of mounts.sort(([a], [b]) => a!.length - b!.length)) await fish.call("mount", device!, mountPoint!);
    const docs = (await fish.call("find", "/usr/share/doc")).split("\n").filter((p) => /\/copyright$/.test(p)).map((p) => `/usr/share/doc/${p.replace(/^\//, "")}`);
    if (docs.length < 70) throw new Error(`only ${docs.length} copyright files under /usr/share/doc`);
    const expected: string[] = [];
    const commands: string[] = [];
    for (let i = 0; i < 40; i++) {
      const file = `/home/alice/Documents/session-note-${i}.txt`;
      commands.push(`write ${quoteArg(file)} ${quoteArg(`note ${i} written in the VM\n`)}`);
      expected.push(`added ${file}`);
    }
    for (const file of docs.slice(0, 40)) {
      commands.push(`write-append ${quoteArg(file)} ${quoteArg("\nEdited in the VM.\n")}`);
      expected.push(`modified ${file}`);
    }
    for (const file of docs.slice(40, 60)) {
      commands.push(`rm ${quoteArg(file)}`);
      expected.push(`deleted ${file}`);
    }
    for (const file of docs.slice(60, 70)) commands.push(`touch ${quoteArg(file)}`);
    await fish.script(commands);
    await fish.call("sync");
    return expected.sort();
  } finally {
    await fish.close();
  }
}

async function ours(base: string, next: string): Promise<{ time: number; found: string[] }> {
  const started = process.hrtime.bigint();
  const diff = await diffImages({ file: base, format: "qcow2" }, { file: next, format: "qcow2" });
  const time = seconds(started);
  const found = diff.changes.filter((c) => c.before?.type !== "directory" && c.after?.type !== "directory").map((c) => `${c.change} ${c.path}`);
  return { time, found: found.sort() };
}

async function virtDiff(base: string, next: string, env: NodeJS.ProcessEnv): Promise<{ time: number; found: string[] }> {
  const started = process.hrtime.bigint();
  const { stdout } = await runTool("virt-diff", ["--format=qcow2", "-a", base, "--format=qcow2", "-A", next], { env, timeoutMs: 3_600_000 });
  const time = seconds(started);
  return { time, found: parseVirtDiff(stdout) };
}

/**
 * virt-diff's report: a line per path ("+ - 0644 5 /path", "-" deleted, "=" changed; the second
 * column is the file type), and after each "=" line the content's diff up to "@@ End of diff @@",
 * empty when only its times changed.
 */
function parseVirtDiff(report: string): string[] {
  const lines = report.split("\n");
  const found: string[] = [];
  for (let i = 0; i < lines.length; i++) {
    const entry = /^([+=-]) (\S) \d{4}\s+\d+ (.*)$/.exec(lines[i]!);
    if (!entry) continue;
    const [, change, type, file] = entry;
    let contentDiffers = false;
    if (change === "=") {
      while (i + 1 < lines.length && lines[i + 1] !== "@@ End of diff @@") {
        contentDiffers = true;
        i++;
      }
      i++;
    }
    if (type === "d") continue;
    if (change === "+") found.push(`added ${file}`);
    else if (change === "-") found.push(`deleted ${file}`);
    else if (contentDiffers) found.push(`modified ${file}`);
  }
  return found.sort();
}

async function main() {
  mkdirSync(work, { recursive: true });
  const base = path.join(work, "base.qcow2");
  const next = path.join(work, "next.qcow2");
  execFileSync("qemu-img", ["convert", "-O", "qcow2", await debianPcImage(), base]);
  const expected = await makeSession(base, next);
  const backend = await applianceBackend();
  const env = applianceEnv(backend);
  const times = { ours: [] as number[], virtDiff: [] as number[] };
  let last = { ours: [] as string[], virtDiff: [] as string[] };
  for (let r = 0; r < ROUNDS; r++) {
    const a = r % 2 === 0 ? await ours(base, next) : null;
    const b = await virtDiff(base, next, env);
    const c = a ?? (await ours(base, next));
    times.ours.push(c.time);
    times.virtDiff.push(b.time);
    last = { ours: c.found, virtDiff: b.found };
    console.log(`round ${r + 1}: ours ${c.time.toFixed(2)} s, virt-diff ${b.time.toFixed(2)} s`);
  }
  const same = (x: string[], y: string[]) => x.length === y.length && x.every((v, i) => v === y[i]);
  const missing = (x: string[], y: string[]) => x.filter((v) => !y.includes(v));
  console.log(`expected ${expected.length} changes; ours found ${last.ours.length}, virt-diff ${last.virtDiff.length}`);
  for (const [who, list] of [["ours", last.ours], ["virt-diff", last.virtDiff]] as const) {
    const extra = missing(list, expected);
    const lacking = missing(expected, list);
    if (extra.length || lacking.length) console.log(`${who}: extra ${JSON.stringify(extra.slice(0, 10))}, missing ${JSON.stringify(lacking.slice(0, 10))}`);
  }
  const oursS = median(times.ours);
  const virtDiffS = median(times.virtDiff);
  console.log(
    JSON.stringify({
      appliance: backend.kvm ? "kvm" : "tcg",
      rounds: ROUNDS,
      ours_s: round(oursS),
      virt_diff_s: round(virtDiffS),
      changes_vs_virt_diff: round(oursS / virtDiffS),
      changes_equal: same(last.ours, last.virtDiff),
      ours_exact: same(last.ours, expected),
      changes: expected.length,
    }),
  );
}

await main();
