// Applying a session's changes to the live filesystem under `root`, three ways per path: the live
// path still equals the state before the session → the change is applied; it already equals the
// state after → nothing to do; anything else changed at home too → a conflict, never overwritten
// silently: by default the local file is kept and the incoming one put beside it as
// NAME.twinboot-<tag> (or the local or the incoming one is kept alone, as the user chose).
// Every path is checked to stay inside the root before anything is written; every write is
// atomic and journalled first (journal.ts), so an interrupted apply resumes and undo restores.
import { chmod, lchown, rm, rmdir } from "node:fs/promises";
import type { Readable } from "node:stream";
import type { ChangeKind, FileState } from "@/server/wire/changes";
import { assertConfined, resolveUnder } from "./confine";
import type { ApplyJournal, Outcome } from "./journal";
import { liveState, sameContent, sameState, setDirectory, writeFileAtomically, writeSymlinkAtomically } from "./live-file";

export interface ApplyEntry {
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
  /** Names conflict copies: NAME.twinboot-<tag> (the session's short id). */
  tag: string;
}

const isRoot = process.getuid?.() === 0;

/** Parents before children for what is made; children before parents for what is removed. */
function applyOrder(entries: ApplyEntry[]): ApplyEntry[] {
  const made = entries.filter((e) => e.change !== "deleted").sort((a, b) => (a.path < b.path ? -1 : 1));
  const removed = entries.filter((e) => e.change === "deleted").sort((a, b) => (a.path < b.path ? 1 : -1));
  return [...made, ...removed];
}

/** Makes the live path what `state` describes (null: removes it). */
async function put(target: string, entry: ApplyEntry, state: FileState | null, options: ApplyOptions): Promise<void> {
  if (!state) {
    const live = await liveState(target);
    if (live?.type === "directory") await rmdir(target);
    else if (live) await rm(target);
    return;
  }
  const live = await liveState(target);
  if (state.type === "directory") return setDirectory(target, state);
  if (state.type === "symlink") return writeSymlinkAtomically(target, state.target ?? "", state);
  if (state.type === "file") {
    // Same bytes, other mode or owner: set them in place rather than write the file again.
    if (live?.type === "file" && live.sha256 === state.sha256) {
      await chmod(target, state.mode);
      if (isRoot) await lchown(target, state.uid, state.gid);
      return;
    }
    return writeFileAtomically(target, await options.content(entry), state);
  }
  throw new Error(`${entry.path} is a special file (device, socket or pipe): not applied`);
}

async function applyOne(entry: ApplyEntry, options: ApplyOptions): Promise<ApplyResult> {
  const { journal } = options;
  const target = resolveUnder(options.root, entry.path);
  const recorded = journal.outcomeOf(target);
  if (recorded) return { path: entry.path, outcome: recorded.outcome, copy: recorded.copy, detail: recorded.detail };
  await assertConfined(options.root, target);

  const live = await liveState(target);
  if (sameState(live, entry.after)) {
    await journal.finish(target, "already-applied");
    return { path: entry.path, outcome: "already-applied" };
  }
  if (entry.after?.type === "other") {
    const detail = "special files (devices, sockets, pipes) are not applied";
    await journal.finish(target, "skipped", { detail });
    return { path: entry.path, outcome: "skipped", detail };
  }
  const untouchedAtHome = sameContent(live, entry.before) || (entry.change === "deleted" && !live);
  if (untouchedAtHome || options.conflict === "keep-remote") {
    if (!untouchedAtHome && entry.after === null && live?.type === "directory") {
      // Deleted in the session, but it holds files at home: never removed.
      const detail = "the folder was deleted in the session but holds files at home: kept";
      await journal.finish(target, "conflict", { detail });
      return { path: entry.path, outcome: "conflict", detail };
    }
    await journal.save(target);
    await put(target, entry, entry.after, options);
    const detail = untouchedAtHome ? undefined : "changed at home too: replaced by the session's version, as asked";
    await journal.finish(target, "applied", { detail });
    return { path: entry.path, outcome: "applied", detail };
  }

  // A conflict: the local version stays.
  if (options.conflict === "both" && entry.after?.type === "file") {
    const copy = `${entry.path}.twinboot-${options.tag}`;
    const copyTarget = resolveUnder(options.root, copy);
    await journal.save(copyTarget);
    await writeFileAtomically(copyTarget, await options.content(entry), entry.after);
    const detail = live ? "changed at home too: yours kept, the session's beside it" : "deleted at home: the session's version put beside where it was";
    await journal.finish(target, "conflict", { copy, detail });
    return { path: entry.path, outcome: "conflict", copy, detail };
  }
  const detail = entry.after ? "changed at home too: yours kept" : "changed at home, deleted in the session: yours kept";
  await journal.finish(target, "conflict", { detail });
  return { path: entry.path, outcome: "conflict", detail };
}

/**
 * Applies the entries. Every path is checked against the root first: one that is absolute-less,
 * has "..", or leads outside through a symlink refuses the whole change set, with nothing written.
 */
export async function applyChanges(options: ApplyOptions): Promise<ApplyResult[]> {
  for (const entry of options.entries) {
    const target = resolveUnder(options.root, entry.path);
    await assertConfined(options.root, target);
    if (entry.after?.type === "symlink" && entry.after.target === null) throw new Error(`${entry.path}: a symlink without a target; refused`);
  }
  const results: ApplyResult[] = [];
  for (const entry of applyOrder(options.entries)) results.push(await applyOne(entry, options));
  return results;
}
