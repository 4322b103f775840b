// Applying a session's changes to the live filesystem under `root`, three ways per path: the live
// path still equals the state before the session → the change is applied; it already equals the
// state after → nothing to do; anything else changed at home too → a conflict, never overwritten
// silently: by default the local file is kept and the incoming one put beside it as
// NAME.twinboot-<tag> (or the local or the incoming one is kept alone, as the user chose).
//
// Every path is checked to stay inside the root before anything is written. Work goes a batch at
// a time, each step durable before the next: what is there now is journalled (journal.ts); new
// files are written beside their targets under temporary names; one syncfs makes them durable;
// they are renamed into place and their directories fsync'd; the outcomes are journalled. A crash
// leaves every path before or after, never half-written; the next run skips what is journalled
// done, decides afresh for the rest, and clears the temporary files; undo restores.
import { rename, rm, rmdir } from "node:fs/promises";
import path from "node:path";
import type { Readable } from "node:stream";
import pMap from "p-map";
import type { ChangeKind, FileState } from "@/wire/changes";
import { assertConfined, resolveUnder } from "./confine";
import type { ApplyJournal, Outcome } from "./journal";
import {
  fsyncDirectory,
  liveState,
  prepareFile,
  prepareSymlink,
  sameContent,
  sameState,
  setDirectory,
  setOwnerAndModeAt,
  syncFilesystems,
  temporaryFor,
  type LiveState,
} from "./live-file";

export interface ApplyEntry {
  /** Absolute within the filesystem the change set is for; `root` is where that filesystem is on this computer. */
  path: string;
  change: ChangeKind;
  before: FileState | null;
  after: FileState | null;
}

/** What to do with a path that also changed at home. */
export type ConflictPolicy = "both" | "keep-local" | "keep-remote";

export interface ApplyResult {
  path: string;
  outcome: Outcome;
  /** Where the incoming version went, when it was put beside the local one. */
  copy?: string;
  detail?: string;
}

export interface ApplyOptions {
  root: string;
  entries: ApplyEntry[];
  /** The new content of an entry whose `after` is a file (checked against its sha256 as written). */
  content: (entry: ApplyEntry) => Promise<Readable>;
  journal: ApplyJournal;
  conflict: ConflictPolicy;
  /** Names conflict copies (NAME.twinboot-<tag>, the session's short id) and temporary files. */
  tag: string;
}

const BATCH_ENTRIES = 256;
const BATCH_BYTES = 64 * 1024 * 1024;
/** Independent paths are looked at and written this many at a time: small files wait on syscalls, not on the CPU. */
const CONCURRENCY = 8;

/** What one entry needs: nothing more (a result already), or `state` put at `target`. */
type Plan = { entry: ApplyEntry; target: string; result: ApplyResult } & (
  | { write: null }
  | { write: { at: string; state: FileState | null; live: LiveState | null } }
);

/** Parents before children for what is made; children before parents for what is removed. */
function applyOrder(entries: ApplyEntry[]): ApplyEntry[] {
  const made = entries.filter((e) => e.change !== "deleted").sort((a, b) => (a.path < b.path ? -1 : 1));
  const removed = entries.filter((e) => e.change === "deleted").sort((a, b) => (a.path < b.path ? 1 : -1));
  return [...made, ...removed];
}

function batches(entries: ApplyEntry[]): ApplyEntry[][] {
  const out: ApplyEntry[][] = [];
  let current: ApplyEntry[] = [];
  let bytes = 0;
  for (const entry of entries) {
    current.push(entry);
    bytes += entry.after?.size ?? 0;
    if (current.length >= BATCH_ENTRIES || bytes >= BATCH_BYTES) {
      out.push(current);
      current = [];
      bytes = 0;
    }
  }
  if (current.length > 0) out.push(current);
  return out;
}

/** The three-way decision for one entry, against the live filesystem. */
async function decide(entry: ApplyEntry, options: ApplyOptions): Promise<Plan> {
  const { journal } = options;
  const target = resolveUnder(options.root, entry.path);
  const recorded = journal.outcomeOf(target);
  if (recorded) return { entry, target, result: { path: entry.path, outcome: recorded.outcome, copy: recorded.copy, detail: recorded.detail }, write: null };
  if (journal.wasSaved(target)) await rm(temporaryFor(target, options.tag), { force: true }); // left by a crashed run, if any

  const live = await liveState(target);
  const done = (outcome: Outcome, detail?: string): Plan => ({ entry, target, result: { path: entry.path, outcome, detail }, write: null });
  // Already as the session left it: applied by an earlier, interrupted run, or the same change made at home.
  if (sameState(live, entry.after)) return done(journal.wasSaved(target) ? "applied" : "already-applied");
  if (entry.after?.type === "other") return done("skipped", "special files (devices, sockets, pipes) are not applied");

  // A folder is never replaced by a file or link here: what is in it at home would be lost.
  if (live?.type === "directory" && entry.after && entry.after.type !== "directory") {
    return done("conflict", `a folder at home where the session has a ${entry.after.type}: kept`);
  }
  const untouchedAtHome = sameContent(live, entry.before) || (entry.change === "deleted" && !live);
  if (untouchedAtHome || options.conflict === "keep-remote") {
    // Deleted in the session, but a folder that is not the same at home: never removed.
    if (!untouchedAtHome && entry.after === null && live?.type === "directory") return done("conflict", "the folder was deleted in the session but differs at home: kept");
    const detail = untouchedAtHome ? undefined : "changed at home too: replaced by the session's version, as asked";
    return { entry, target, result: { path: entry.path, outcome: "applied", detail }, write: { at: target, state: entry.after, live } };
  }
  // A conflict: the local version stays; the incoming file may go beside it.
  if (options.conflict === "both" && entry.after?.type === "file") {
    const copy = `${entry.path}.twinboot-${options.tag}`;
    const detail = live ? "changed at home too: yours kept, the session's beside it" : "deleted at home: the session's version put beside where it was";
    const copyTarget = resolveUnder(options.root, copy);
    return { entry, target, result: { path: entry.path, outcome: "conflict", copy, detail }, write: { at: copyTarget, state: entry.after, live: await liveState(copyTarget) } };
  }
  return done("conflict", entry.after ? "changed at home too: yours kept" : "changed at home, deleted in the session: yours kept");
}

async function applyBatch(entries: ApplyEntry[], options: ApplyOptions): Promise<ApplyResult[]> {
  const plans = await pMap(entries, (entry) => decide(entry, options), { concurrency: CONCURRENCY });
  const writes = plans.filter((p): p is Plan & { write: NonNullable<Plan["write"]> } => p.write !== null);
  // Confinement again, now: the live filesystem may have changed since the whole set was checked.
  const confined = async () => {
    const checked = new Set<string>();
    for (const { write } of writes) await assertConfined(options.root, write.at, checked);
  };
  await confined();
  await options.journal.save(writes.map((p) => ({ target: p.write.at, absent: p.write.live === null, will: p.write.state })));

  // Folders first, in order (their children may follow in this batch); then new files and
  // symlinks under temporary names beside their targets, several at a time.
  for (const { write } of writes) if (write.state?.type === "directory") await setDirectory(write.at, write.state);
  const staged = new Map<string, string>();
  for (const { write } of writes) {
    const { at, state, live } = write;
    if (state?.type === "symlink" || (state?.type === "file" && !(live?.type === "file" && live.sha256 === state.sha256))) {
      staged.set(at, temporaryFor(at, options.tag));
    }
  }
  try {
    await pMap(
      writes.filter((p) => staged.has(p.write.at)),
      async ({ entry, write }) => {
        const temporary = staged.get(write.at)!;
        if (write.state!.type === "symlink") await prepareSymlink(temporary, write.state!.target ?? "", write.state);
        else await prepareFile(temporary, await options.content(entry), write.state!, entry.path);
      },
      { concurrency: CONCURRENCY, stopOnError: false },
    );
  } catch (error) {
    // Nothing is in place yet: take the batch's temporary files away again, and say what failed.
    await Promise.all([...staged.values()].map((temporary) => rm(temporary, { force: true })));
    throw error instanceof AggregateError ? error.errors[0] : error;
  }
  await syncFilesystems(writes.filter((p) => staged.has(p.write.at)).map((p) => path.dirname(p.write.at)));
  await confined();

  // Into place: renames, removals, and mode or owner set on files whose bytes did not change.
  const touchedDirs = new Set<string>();
  for (const plan of writes) {
    const { at, state, live } = plan.write;
    const temporary = staged.get(at);
    if (temporary) {
      await rename(temporary, at);
    } else if (!state) {
      if (live?.type === "directory") {
        // Deleted in the session, but with something in it at home: kept.
        const removed = await rmdir(at).then(
          () => true,
          (error: NodeJS.ErrnoException) => {
            if (error.code !== "ENOTEMPTY" && error.code !== "EEXIST") throw error;
            return false;
          },
        );
        if (!removed) plan.result = { path: plan.entry.path, outcome: "conflict", detail: "the folder was deleted in the session but holds files at home: kept" };
      } else if (live) await rm(at);
    } else if (state.type === "file") {
      await setOwnerAndModeAt(at, state); // same bytes, other owner or mode
    }
    touchedDirs.add(path.dirname(at));
    if (state?.type === "directory") touchedDirs.add(at);
  }
  await pMap(
    touchedDirs,
    (dir) =>
      fsyncDirectory(dir).catch((error: NodeJS.ErrnoException) => {
        if (error.code !== "ENOENT") throw error; // a folder removed in this batch has nothing to sync
      }),
    { concurrency: CONCURRENCY },
  );

  await options.journal.finish(plans.filter((p) => !options.journal.outcomeOf(p.target)).map((p) => ({ target: p.target, ...p.result })));
  return plans.map((p) => p.result);
}

/**
 * Applies the entries. Every path is checked against the root first: one that is not absolute,
 * has "..", or leads outside through a symlink refuses the whole change set, with nothing written.
 */
export async function applyChanges(options: ApplyOptions): Promise<ApplyResult[]> {
  const checked = new Set<string>();
  for (const entry of options.entries) {
    await assertConfined(options.root, resolveUnder(options.root, entry.path), checked);
    if (entry.after?.type === "symlink" && entry.after.target === null) throw new Error(`${entry.path}: a symlink without a target; refused`);
  }
  const results: ApplyResult[] = [];
  for (const batch of batches(applyOrder(options.entries))) results.push(...(await applyBatch(batch, options)));
  return results;
}
