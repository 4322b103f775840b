// The journal of one apply: before a path is touched, what was there is kept (a hard link to the
// file's inode where the journal is on the same filesystem, so nothing is copied; a copy
// otherwise; a symlink's target or a folder's mode and owner as data) with what the apply means
// to put there, and after, the outcome. Records are JSON lines, fsync'd before the changes they
// announce. An interrupted apply run again skips what is done and decides afresh for the rest
// (every write is atomic, so a path is either before or after); undo puts every saved path back,
// newest first, byte for byte (times to the microsecond, what utimes takes) — and a path changed at home since the apply is moved aside as
// NAME.twinboot-undo-kept first, never lost.
import { createHash } from "node:crypto";
import { constants } from "node:fs";
import { appendFile, copyFile, link, lstat, mkdir, open, readFile, readlink, rename, rm, rmdir, truncate } from "node:fs/promises";
import path from "node:path";
import type { FileState } from "@/wire/changes";
import { assertConfined } from "./confine";
import { fsyncDirectory, liveState, sameContent, setOwnerAndMode, sha256OfFile, temporaryFor, writeSymlinkAtomically } from "./live-file";

export type Outcome = "applied" | "already-applied" | "conflict" | "skipped";

type SavedRecord = {
  kind: "saved";
  path: string;
  /** What was there: nothing, a file (kept as backup/<sha256 of the path>), a symlink, or a folder. */
  was:
    | { type: "absent" }
    | { type: "file"; backup: string; mode: number; uid: number; gid: number; mtimeMs: number }
    | { type: "symlink"; target: string }
    | { type: "directory"; mode: number; uid: number; gid: number };
  /** What the apply puts there (null: removes it). */
  will: FileState | null;
};
type DoneRecord = { kind: "done"; path: string; outcome: Outcome; copy?: string; detail?: string };
type JournalRecord = SavedRecord | DoneRecord;

export interface UndoResult {
  restored: string[];
  /** Paths changed at home after the apply: their version now beside them, as NAME.twinboot-undo-kept. */
  keptAside: string[];
}

/**
 * The seconds to give utimes for a time as stat's mtimeMs has it. libuv truncates them to the
 * microsecond, and a double of today's seconds falls a fraction of one below or above the exact
 * time: aimed at the middle of the nearest microsecond, a file put back twice gets the same time,
 * not one a microsecond earlier each time.
 */
function utimesSeconds(mtimeMs: number): number {
  return (Math.round(mtimeMs * 1000) + 0.5) / 1e6;
}

async function fsyncFile(file: string): Promise<void> {
  const handle = await open(file, "r");
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

export class ApplyJournal {
  private readonly saved = new Map<string, SavedRecord>();
  private readonly done = new Map<string, DoneRecord>();
  private readonly order: string[] = [];

  private constructor(private readonly dir: string) {}

  /** Opens (or starts) the journal in `dir`, reading what an earlier run recorded. */
  static async open(dir: string): Promise<ApplyJournal> {
    await mkdir(path.join(dir, "backup"), { recursive: true, mode: 0o700 });
    await fsyncDirectory(dir);
    const journal = new ApplyJournal(dir);
    const text = await readFile(journal.file, "utf8").catch((error: NodeJS.ErrnoException) => {
      if (error.code === "ENOENT") return "";
      throw error; // unreadable is not empty: never start over on top of a journal
    });
    let good = 0;
    for (const line of text.split("\n").slice(0, -1)) {
      try {
        journal.remember(JSON.parse(line) as JournalRecord);
      } catch {
        break;
      }
      good += Buffer.byteLength(line) + 1;
    }
    // A line cut short by a crash (nothing after it was acted on) is cut off, so that what this
    // run appends starts on a line of its own.
    if (good < Buffer.byteLength(text)) {
      await truncate(journal.file, good);
      await fsyncFile(journal.file);
    }
    return journal;
  }

  private get file() {
    return path.join(this.dir, "journal.jsonl");
  }

  private remember(record: JournalRecord) {
    if (record.kind === "saved") {
      if (!this.saved.has(record.path)) this.order.push(record.path);
      this.saved.set(record.path, record);
    } else {
      this.done.set(record.path, record);
    }
  }

  /** Appends records and makes them durable, with one fsync for all. */
  private async append(records: JournalRecord[]) {
    if (records.length === 0) return;
    await appendFile(this.file, records.map((r) => `${JSON.stringify(r)}\n`).join(""));
    await fsyncFile(this.file);
    for (const record of records) this.remember(record);
  }

  /** Whether what was at `target` is kept already (a resumed apply finds it so). */
  wasSaved(target: string): boolean {
    return this.saved.has(target);
  }

  /** The outcome already recorded for a path (a resumed apply skips it). */
  outcomeOf(target: string): DoneRecord | undefined {
    return this.done.get(target);
  }

  /** Keeps what is at each target now, once: the first save of a path is the one undo restores. */
  async save(targets: { target: string; absent?: boolean; will: FileState | null }[]): Promise<void> {
    const records: SavedRecord[] = [];
    let linked = false;
    for (const { target, absent, will } of targets) {
      if (this.saved.has(target) || records.some((r) => r.path === target)) continue;
      // `absent`: the caller has just looked, and nothing is there.
      const stat = absent ? null : await lstat(target).catch(() => null);
      let was: SavedRecord["was"];
      if (!stat) was = { type: "absent" };
      else if (stat.isSymbolicLink()) was = { type: "symlink", target: await readlink(target) };
      else if (stat.isDirectory()) was = { type: "directory", mode: stat.mode & 0o7777, uid: stat.uid, gid: stat.gid };
      else {
        const backup = path.join(this.dir, "backup", createHash("sha256").update(target).digest("hex"));
        await rm(backup, { force: true });
        // The same inode, kept alive by a second name: the apply replaces the target's name only.
        await link(target, backup).catch(async (error: NodeJS.ErrnoException) => {
          if (error.code !== "EXDEV" && error.code !== "EPERM") throw error;
          await copyFile(target, backup);
          await fsyncFile(backup);
        });
        linked = true;
        was = { type: "file", backup, mode: stat.mode & 0o7777, uid: stat.uid, gid: stat.gid, mtimeMs: stat.mtimeMs };
      }
      records.push({ kind: "saved", path: target, was, will });
    }
    if (linked) await fsyncDirectory(path.join(this.dir, "backup"));
    await this.append(records);
  }

  /** Records outcomes, after the changes they describe are durable. */
  async finish(outcomes: { target: string; outcome: Outcome; copy?: string; detail?: string }[]): Promise<void> {
    await this.append(outcomes.map(({ target, outcome, copy, detail }) => ({ kind: "done" as const, path: target, outcome, copy, detail })));
  }

  /** Moves what is at `target` aside (it changed at home after the apply), under a free name. */
  private async keepAside(target: string): Promise<void> {
    for (let n = 0; ; n++) {
      const aside = `${target}.twinboot-undo-kept${n === 0 ? "" : `-${n}`}`;
      if (await lstat(aside).then(() => true, () => false)) continue;
      await rename(target, aside);
      return;
    }
  }

  /** Puts every saved path under `root` back as it was, newest first. */
  async undo(root: string): Promise<UndoResult> {
    const result: UndoResult = { restored: [], keptAside: [] };
    for (const target of [...this.order].reverse()) {
      const { was, will } = this.saved.get(target)!;
      await assertConfined(root, target);
      const live = await liveState(target);
      // Changed at home since the apply (or a folder with new things in it): kept beside, not lost.
      const asApplied = sameContent(live, will);
      const asBefore =
        was.type === "absent"
          ? live === null
          : was.type === "directory"
            ? live?.type === "directory"
            : was.type === "symlink"
              ? live?.type === "symlink" && live.target === was.target
              : live?.type === "file" && live.sha256 === (await sha256OfFile(was.backup));
      if (live && !asApplied && !asBefore) {
        await this.keepAside(target);
        result.keptAside.push(target);
      }
      const now = await lstat(target).catch(() => null);
      if (was.type === "absent") {
        if (now?.isDirectory()) {
          await rmdir(target).catch(async () => {
            await this.keepAside(target); // things were put in it after the apply
            result.keptAside.push(target);
          });
        } else if (now) await rm(target);
      } else if (was.type === "file") {
        const temporary = temporaryFor(target, "undo");
        await rm(temporary, { force: true });
        await mkdir(path.dirname(target), { recursive: true });
        // The kept inode itself where it could be linked (its times were never touched); a copy
        // with the recorded times otherwise.
        const copied = await link(was.backup, temporary).then(
          () => false,
          async () => (await copyFile(was.backup, temporary), true),
        );
        const handle = await open(temporary, constants.O_RDONLY | constants.O_NOFOLLOW);
        try {
          // Owner and mode as recorded: an in-place chmod by the apply reached the kept inode too.
          await setOwnerAndMode(handle, was);
          if (copied) await handle.utimes(utimesSeconds(was.mtimeMs), utimesSeconds(was.mtimeMs));
        } finally {
          await handle.close();
        }
        if (now?.isDirectory()) {
          await rmdir(target).catch(async () => {
            await this.keepAside(target);
            result.keptAside.push(target);
          });
        }
        await rename(temporary, target);
        // rename() does nothing when both names are links to one inode (a chmod-only change).
        await rm(temporary, { force: true });
        await fsyncDirectory(path.dirname(target));
      } else if (was.type === "symlink") {
        if (now?.isDirectory()) await rmdir(target);
        await writeSymlinkAtomically(target, was.target, null);
      } else {
        if (now && !now.isDirectory()) await rm(target);
        await mkdir(target, { recursive: true });
        const handle = await open(target, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_DIRECTORY);
        try {
          await setOwnerAndMode(handle, was);
        } finally {
          await handle.close();
        }
      }
      result.restored.push(target);
    }
    return result;
  }
}
