// Benchmark: the agent's apply (agent/apply: three-way check of each path; a batch at a time,
// journalled, written to temporary files beside the targets, made durable with one syncfs,
// renamed into place, directories fsync'd) vs rsync (Debian's) copying the same tree onto the
// same disk, in one run: 1,000 small files (1–8 KiB, in 20 folders) and one 100 MiB file, all new
// to the destination, each file's content read from its own source file. rsync is run as people
// run it (-a) and with --fsync, the closest it comes to our durability; every contender ends with
// a sync, inside its time. Alternating rounds; medians. Run: npm run bench -- apply. The last
// line is one JSON object.
import { execFileSync } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import { createReadStream, mkdirSync, rmSync, statSync, writeFileSync } from "node:fs";
import path from "node:path";
import { applyChanges, type ApplyEntry } from "@/agent/apply/apply-changes";
import { ApplyJournal } from "@/agent/apply/journal";

const ROUNDS = 5;
const SMALL_FILES = 1000;
const BIG_BYTES = 100 * 1024 * 1024;
const work = path.join(process.env.BENCH_WORK_DIR!, "apply");
const source = path.join(work, "source");

const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;
const seconds = (started: bigint) => Number(process.hrtime.bigint() - started) / 1e9;
const round = (value: number, digits = 3) => Number(value.toFixed(digits));

function makeSource(): ApplyEntry[] {
  const entries: ApplyEntry[] = [];
  const add = (relative: string, data: Buffer) => {
    const file = path.join(source, relative);
    mkdirSync(path.dirname(file), { recursive: true });
    writeFileSync(file, data);
    const stat = statSync(file);
    entries.push({
      path: `/${relative}`,
      change: "added",
      before: null,
      after: {
        type: "file",
        mode: stat.mode & 0o7777,
        uid: stat.uid,
        gid: stat.gid,
        size: data.length,
        mtime: stat.mtime.toISOString(),
        sha256: createHash("sha256").update(data).digest("hex"),
        target: null,
      },
    });
  };
  for (let i = 0; i < SMALL_FILES; i++) add(`docs/folder-${i % 20}/file-${i}.txt`, randomBytes(1024 + Math.floor(Math.random() * 7 * 1024)));
  add("video/big.bin", randomBytes(BIG_BYTES));
  return entries;
}

async function ours(entries: ApplyEntry[], destination: string, journalDir: string): Promise<number> {
  mkdirSync(destination, { recursive: true });
  const started = process.hrtime.bigint();
  const journal = await ApplyJournal.open(journalDir);
  const results = await applyChanges({
    root: destination,
    entries,
    journal,
    conflict: "both",
    tag: "bench",
    content: async (entry) => createReadStream(path.join(source, entry.path)),
  });
  execFileSync("sync");
  const took = seconds(started);
  if (results.some((r) => r.outcome !== "applied")) throw new Error("not everything was applied");
  return took;
}

function rsync(destination: string, flags: string[]): number {
  mkdirSync(destination, { recursive: true });
  const started = process.hrtime.bigint();
  execFileSync("rsync", ["-a", ...flags, `${source}/`, `${destination}/`]);
  execFileSync("sync");
  return seconds(started);
}

function main() {
  rmSync(work, { recursive: true, force: true });
  return (async () => {
    const entries = makeSource();
    execFileSync("sync");
    const times: Record<"ours" | "rsync" | "rsync_fsync", number[]> = { ours: [], rsync: [], rsync_fsync: [] };
    for (let r = 0; r < ROUNDS; r++) {
      const destination = (name: string) => path.join(work, `${name}-${r}`);
      times.ours.push(await ours(entries, destination("ours"), path.join(work, `journal-${r}`)));
      times.rsync.push(rsync(destination("rsync"), []));
      times.rsync_fsync.push(rsync(destination("rsync-fsync"), ["--fsync"]));
      console.log(`round ${r + 1}: ours ${times.ours.at(-1)!.toFixed(2)} s, rsync ${times.rsync.at(-1)!.toFixed(2)} s, rsync --fsync ${times.rsync_fsync.at(-1)!.toFixed(2)} s`);
      for (const name of ["ours", "rsync", "rsync-fsync"]) rmSync(destination(name), { recursive: true, force: true });
      rmSync(path.join(work, `journal-${r}`), { recursive: true, force: true });
      execFileSync("sync");
    }
    const [o, r, f] = [median(times.ours), median(times.rsync), median(times.rsync_fsync)];
    rmSync(work, { recursive: true, force: true });
    console.log(
      JSON.stringify({
        files: SMALL_FILES + 1,
        bytes_mib: round((entries.reduce((sum, e) => sum + (e.after?.size ?? 0), 0)) / 2 ** 20, 1),
        rounds: ROUNDS,
        ours_s: round(o),
        rsync_s: round(r),
        rsync_fsync_s: round(f),
        apply_vs_rsync: round(o / r),
        apply_vs_rsync_fsync: round(o / f),
      }),
    );
  })();
}

await main();
