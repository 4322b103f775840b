// The journal of one apply: before a path is touched, what was there is kept (a hard link to the
// file's inode where the journal is on the same filesystem, so nothing is copied; a copy
// otherwise; a symlink's target or a directory's mode and owner as data), and after, the outcome.
// Records are JSON lines, each fsync'd before the change it announces. An interrupted apply run
// again skips what is done and decides afresh for the rest (every write is atomic, so a path is
// either before or after); undo puts every saved path back, in reverse order, byte for byte.
import { appendFile, chown, copyFile, link, lstat, mkdir, open, readFile, readlink, rename, rm, rmdir } from "node:fs/promises";
import path from "node:path";
import { fsyncDirectory, writeSymlinkAtomically } from "./live-file";

export type Outcome = "applied" | "already-applied" | "conflict" | "skipped";

type SavedRecord = {
  kind: "saved";
  path: string;
  /** What was there: nothing, a file (kept as backup/<n>), a symlink, or a directory. */
  was:
    | { type: "absent" }
    | { type: "file"; backup: string; mode: number; uid: number; gid: number; mtimeMs: number }
    | { type: "symlink"; target: string }
    | { type: "directory"; mode: number; uid: number; gid: number };
};
type DoneRecord = { kind: "done"; path: string; outcome: Outcome; copy?: string; detail?: string };
type JournalRecord = SavedRecord | DoneRecord;

export class ApplyJournal {
  private readonly saved = new Map<string, SavedRecord>();
  private readonly done = new Map<string, DoneRecord>();
  private readonly order: string[] = [];

  private constructor(private readonly dir: string) {}

  /** Opens (or starts) the journal in `dir`, reading what an earlier run recorded. */
  static async open(dir: string): Promise<ApplyJournal> {
    await mkdir(path.join(dir, "backup"), { recursive: true, mode: 0o700 });
    const journal = new ApplyJournal(dir);
    const text = await readFile(journal.file, "utf8").catch(() => "");
    for (const line of text.split("\n")) {
      if (!line) continue;
      let record: JournalRecord;
      try {
        record = JSON.parse(line) as JournalRecord;
      } catch {
        break; // a line cut short by a crash: nothing after it was acted on
      }
      journal.remember(record);
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
    const handle = await open(this.file, "r");
    try {
      await handle.sync();
    } finally {
      await handle.close();
    }
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
  async save(targets: { target: string; absent?: boolean }[]): Promise<void> {
    const records: SavedRecord[] = [];
    for (const { target, absent } of targets) {
      if (this.saved.has(target) || records.some((r) => r.path === target)) continue;
      // `absent`: the caller has just looked, and nothing is there.
      const stat = absent ? null : await lstat(target).catch(() => null);
      let was: SavedRecord["was"];
      if (!stat) was = { type: "absent" };
      else if (stat.isSymbolicLink()) was = { type: "symlink", target: await readlink(target) };
      else if (stat.isDirectory()) was = { type: "directory", mode: stat.mode & 0o7777, uid: stat.uid, gid: stat.gid };
      else {
        const backup = path.join(this.dir, "backup", String(this.saved.size + records.length));
        await rm(backup, { force: true });
        // The same inode, kept alive by a second name: the apply replaces the target's name only.
        await link(target, backup).catch(async (error: NodeJS.ErrnoException) => {
          if (error.code !== "EXDEV" && error.code !== "EPERM") throw error;
          await copyFile(target, backup);
        });
        was = { type: "file", backup, mode: stat.mode & 0o7777, uid: stat.uid, gid: stat.gid, mtimeMs: stat.mtimeMs };
      }
      records.push({ kind: "saved", path: target, was });
    }
    await this.append(records);
  }

  /** Records outcomes, after the changes they describe are durable. */
  async finish(outcomes: { target: string; outcome: Outcome; copy?: string; detail?: string }[]): Promise<void> {
    await this.append(outcomes.map(({ target, ...rest }) => ({ kind: "done" as const, path: target, ...rest })));
  }

  /** Puts every saved path back as it was, newest first; returns the paths restored. */
  async undo(): Promise<string[]> {
    const restored: string[] = [];
    for (const target of [...this.order].reverse()) {
      const { was } = this.saved.get(target)!;
      if (was.type === "absent") {
        const stat = await lstat(target).catch(() => null);
        if (stat?.isDirectory()) await rmdir(target).catch(() => undefined); // only if left empty
        else if (stat) await rm(target, { force: true });
      } else if (was.type === "file") {
        const temporary = path.join(path.dirname(target), `.${path.basename(target)}.twinboot-undo`);
        await rm(temporary, { force: true });
        await mkdir(path.dirname(target), { recursive: true });
        // The kept inode itself where it could be linked (its times were never touched); a copy
        // with the recorded times otherwise.
        const copied = await link(was.backup, temporary).then(
          () => false,
          async () => (await copyFile(was.backup, temporary), true),
        );
        // Mode and owner as recorded: an in-place chmod by the apply reached the kept inode too.
        const handle = await open(temporary, "r");
        try {
          await handle.chmod(was.mode);
          if (process.getuid?.() === 0) await handle.chown(was.uid, was.gid);
          if (copied) await handle.utimes(was.mtimeMs / 1000, was.mtimeMs / 1000);
        } finally {
          await handle.close();
        }
        const stat = await lstat(target).catch(() => null);
        if (stat?.isDirectory()) await rm(target, { recursive: true, force: true });
        await rename(temporary, target);
        // rename() does nothing when both names are links to one inode (a chmod-only change).
        await rm(temporary, { force: true });
        await fsyncDirectory(path.dirname(target));
      } else if (was.type === "symlink") {
        await writeSymlinkAtomically(target, was.target, null);
      } else {
        await mkdir(target, { recursive: true });
        const handle = await open(target, "r");
        try {
          await handle.chmod(was.mode);
        } finally {
          await handle.close();
        }
        if (process.getuid?.() === 0) await chown(target, was.uid, was.gid);
      }
      restored.push(target);
    }
    return restored;
  }
}
