// Carrying out one apply-back request on this computer: the manifest, the files staged and
// checked (stage-content.ts), then each filesystem of the change set applied under its root on
// this computer by the apply engine (../apply), and the report sent. Everything about a request
// lives in <stateDir>/apply/<request id>: the roots chosen (so a resumed run and an undo use the
// same ones), the staged files, and one journal per filesystem. Interrupted anywhere, the next
// run resumes: staged files are checked again, journalled paths are skipped, the rest decided
// afresh. `undoRequest` puts every touched path back from the journals; `reportUndo` tells the
// server, and an undo it could not tell waits in the record until the agent's next contact.
import { createReadStream } from "node:fs";
import { mkdir, readdir, readFile, rename, rm, writeFile } from "node:fs/promises";
import path from "node:path";
import { z } from "zod";
import { openApplyRequestStates } from "@/wire/enums";
import { ZApplyUndoCountsSchema, type TAgentApplyRequest, type TApplyManifestEntry, type TApplyReport } from "@/wire/apply-back";
import { applyChanges, type ApplyEntry, type ConflictPolicy } from "../apply/apply-changes";
import { assertConfined, resolveUnder } from "../apply/confine";
import { ApplyJournal, type UndoResult } from "../apply/journal";
import type { AgentConfig } from "../config";
import { ServerError, type ServerClient } from "../server-client";
import { ApplyBackError } from "./apply-back-error";
import { chooseRoots, readMounts } from "./apply-roots";
import { DownloadIncompleteError, stageContent, stagedFile } from "./stage-content";

export { ApplyBackError };

const ZRequestRecordSchema = z.object({
  roots: z.record(z.string(), z.string()),
  conflict: z.enum(["both", "keep-local", "keep-remote"]),
  tag: z.string(),
  /** Set by undo before it starts: the request is never applied again here. */
  undone: z.boolean().optional(),
  /** Set once the undo is done: what it restored, and whether the server has heard of it yet. */
  undo: ZApplyUndoCountsSchema.extend({ reported: z.boolean() }).optional(),
});
/** What the server keeps of a report's list of conflicts and skipped paths (ZApplyReportSchema). */
const MAX_REPORTED_EXCEPTIONS = 100_000;
type RequestRecord = z.infer<typeof ZRequestRecordSchema>;

function requestDir(config: AgentConfig, requestId: string): string {
  return path.join(config.stateDir, "apply", z.uuid().parse(requestId));
}

function journalDir(dir: string, index: number): string {
  return path.join(dir, `journal-${index}`);
}

async function readRecord(dir: string): Promise<RequestRecord | null> {
  const text = await readFile(path.join(dir, "request.json"), "utf8").catch(() => null);
  return text ? ZRequestRecordSchema.parse(JSON.parse(text)) : null;
}

async function writeRecord(dir: string, record: RequestRecord): Promise<void> {
  await mkdir(dir, { recursive: true, mode: 0o700 });
  await writeFile(path.join(dir, "request.json.tmp"), JSON.stringify(record), { mode: 0o600 });
  await rename(path.join(dir, "request.json.tmp"), path.join(dir, "request.json"));
}

/** A request the agent may still work on: pending, notified or applying. */
export function assertStillOpen(request: TAgentApplyRequest): void {
  if (!(openApplyRequestStates as readonly string[]).includes(request.state)) throw new ApplyBackError(`Request ${request.id} is already ${request.state.replaceAll("_", " ")}.`);
}

export interface CarryOutOptions {
  client: ServerClient;
  config: AgentConfig;
  requestId: string;
  /** Where a single-filesystem change set goes (default /). */
  root: string;
  conflict: ConflictPolicy;
  log: (line: string) => void;
}

export interface CarryOutResult {
  request: TAgentApplyRequest;
  report: TApplyReport;
}

/**
 * One process at a time per request (the daemon resuming it and `apply` typed at the same moment
 * would share a journal): a lock file naming its owner (pid and boot), taken over when that
 * process is gone or the computer has rebooted since. Two processes finding the same stale lock
 * in the same instant could both take it; Node has no flock to close that.
 */
async function lockRequest(dir: string, requestId: string): Promise<() => Promise<void>> {
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const lock = path.join(dir, "lock");
  const boot = (await readFile("/proc/sys/kernel/random/boot_id", "utf8").catch(() => "")).trim();
  for (;;) {
    try {
      await writeFile(lock, `${process.pid} ${boot}`, { flag: "wx", mode: 0o600 });
      return () => rm(lock, { force: true });
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== "EEXIST") throw error;
    }
    const [pid, ownerBoot] = (await readFile(lock, "utf8").catch(() => "")).split(" ");
    const owner = Number(pid);
    const alive =
      ownerBoot === boot &&
      Number.isInteger(owner) &&
      owner > 0 &&
      owner !== process.pid &&
      (() => {
        try {
          process.kill(owner, 0);
          return true;
        } catch (error) {
          return (error as NodeJS.ErrnoException).code === "EPERM";
        }
      })();
    if (alive) throw new ApplyBackError(`Request ${requestId} is being applied by another agent process (pid ${owner}); let it finish.`);
    await rm(lock, { force: true });
  }
}

export async function carryOutRequest(options: CarryOutOptions): Promise<CarryOutResult> {
  const dir = requestDir(options.config, options.requestId);
  const unlock = await lockRequest(dir, options.requestId);
  try {
    return await carryOutLocked(options, dir);
  } finally {
    await unlock();
  }
}

async function carryOutLocked(options: CarryOutOptions, dir: string): Promise<CarryOutResult> {
  const { client, config, requestId, log } = options;
  const manifest = await client.applyManifest(config.machineId, requestId);
  const { request, entries } = manifest;
  assertStillOpen(request);
  try {
    // A resumed run keeps the roots and the conflict rule of the first one: the journals are theirs.
    const filesystems = [...new Set(entries.map((e) => e.filesystem))].sort();
    const record = (await readRecord(dir)) ?? {
      roots: chooseRoots({ filesystems: manifest.filesystems, needed: filesystems, root: options.root, config, mounts: await readMounts() }),
      conflict: options.conflict,
      tag: request.tag,
    };
    if (record.undone) throw new ApplyBackError(`Request ${requestId} was undone on this computer (twinboot-agent apply --undo); it is not applied again.`);
    await writeRecord(dir, record);
    await client.reportApply(config.machineId, requestId, { state: "applying" });
    // A path that leads outside its root is refused before anything is downloaded or written
    // (the engine checks again, batch by batch, against the filesystem as it is then).
    const checked = new Set<string>();
    for (const entry of entries) {
      const root = record.roots[entry.filesystem]!;
      await assertConfined(root, resolveUnder(root, entry.path), checked);
    }
    await stageContent({ client, machineId: config.machineId, requestId, dir: path.join(dir, "incoming"), entries, log });
    const report: TApplyReport = {
      roots: record.roots,
      conflictPolicy: record.conflict,
      counts: { applied: 0, alreadyApplied: 0, conflicts: 0, skipped: 0 },
      exceptions: [],
    };
    for (const [index, filesystem] of filesystems.entries()) {
      const root = record.roots[filesystem]!;
      const mine = entries.filter((e) => e.filesystem === filesystem).map((e): ApplyEntry & { changeId: string } => ({ ...e }));
      log(`Applying ${mine.length} change${mine.length === 1 ? "" : "s"} of ${filesystem} under ${root}.`);
      const journal = await ApplyJournal.open(journalDir(dir, index));
      const results = await applyChanges({
        root,
        entries: mine,
        content: async (entry) => createReadStream(stagedFile(path.join(dir, "incoming"), (entry as TApplyManifestEntry).changeId)),
        journal,
        conflict: record.conflict,
        tag: record.tag,
      });
      for (const result of results) {
        if (result.outcome === "applied") report.counts.applied += 1;
        else if (result.outcome === "already-applied") report.counts.alreadyApplied += 1;
        else {
          if (result.outcome === "conflict") report.counts.conflicts += 1;
          else report.counts.skipped += 1;
          report.exceptions.push({ filesystem, path: result.path, outcome: result.outcome, copy: result.copy, detail: result.detail });
        }
      }
    }
    // The counts stay exact; the list the server keeps is capped.
    report.exceptions = report.exceptions.slice(0, MAX_REPORTED_EXCEPTIONS);
    const state = report.counts.conflicts > 0 ? "applied_with_conflicts" : "applied";
    await client.reportApply(config.machineId, requestId, { state, report });
    await rm(path.join(dir, "incoming"), { recursive: true, force: true });
    return { request: { ...request, state }, report };
  } catch (error) {
    // A broken download or an unreachable server is resumed by the next run; anything else
    // (a refused path, a full disk) is reported: the user sees why on the session page.
    const resumable = error instanceof DownloadIncompleteError || (error instanceof ServerError && error.retryable);
    if (!resumable) {
      const touched = await readFile(path.join(journalDir(dir, 0), "journal.jsonl"), "utf8").then((text) => text.length > 0, () => false);
      const problem = `${error instanceof Error ? error.message : String(error)}${touched ? ` What was already applied can be put back with: twinboot-agent apply --undo ${requestId}` : ""}`;
      await client.reportApply(config.machineId, requestId, { state: "failed", problem: problem.slice(0, 2000) }).catch(() => undefined);
      await rm(path.join(dir, "incoming"), { recursive: true, force: true });
    }
    throw error;
  }
}

/**
 * Puts back every path the request touched, newest first, from its journals. The server hears of
 * it through `reportUndo`; until it has, the record says so and `reportPendingUndos` tries again.
 */
export async function undoRequest(config: AgentConfig, requestId: string): Promise<UndoResult> {
  const dir = requestDir(config, requestId);
  const record = await readRecord(dir);
  if (!record) throw new ApplyBackError(`Request ${requestId} was never applied on this computer (nothing in ${dir}).`);
  const unlock = await lockRequest(dir, requestId);
  try {
    // First, so that a daemon resuming the request does not apply it again afterwards.
    await writeRecord(dir, { ...record, undone: true });
    const result: UndoResult = { restored: [], keptAside: [] };
    for (const [index, filesystem] of Object.keys(record.roots).sort().entries()) {
      const undone = await (await ApplyJournal.open(journalDir(dir, index))).undo(record.roots[filesystem]!);
      result.restored.push(...undone.restored);
      result.keptAside.push(...undone.keptAside);
    }
    await writeRecord(dir, { ...record, undone: true, undo: { restored: result.restored.length, keptAside: result.keptAside.length, reported: false } });
    return result;
  } finally {
    await unlock();
  }
}

/**
 * Tells the server that a request was undone here, unless it has heard already. An applied
 * request becomes undone; one the server still has open (stopped part way) ends as failed, saying
 * why. Resolves false when the server cannot be reached now (the record keeps the report waiting);
 * an answer that will not change (the request is failed, declined or gone) ends the waiting.
 */
export async function reportUndo(client: ServerClient, config: AgentConfig, requestId: string, log: (line: string) => void): Promise<boolean> {
  const dir = requestDir(config, requestId);
  const record = await readRecord(dir);
  if (!record?.undo || record.undo.reported) return true;
  try {
    const { requests } = await client.applyRequests(config.machineId);
    const progress = requests.some((r) => r.id === requestId)
      ? ({ state: "failed", problem: "Stopped part way and undone at the computer (twinboot-agent apply --undo)." } as const)
      : ({ state: "undone", undo: { restored: record.undo.restored, keptAside: record.undo.keptAside } } as const);
    await client.reportApply(config.machineId, requestId, progress);
  } catch (error) {
    if (!(error instanceof ServerError) || error.retryable) return false;
    log(`The server did not take the undo of request ${requestId}: ${error.message}`);
  }
  await writeRecord(dir, { ...record, undo: { ...record.undo, reported: true } });
  return true;
}

/**
 * The undos the server has not heard of (it was unreachable when they were done), reported now:
 * called whenever the agent reaches the server (the listener on connecting, `apply`). Stops at
 * the first that cannot be sent; they wait for the next contact.
 */
export async function reportPendingUndos(client: ServerClient, config: AgentConfig, log: (line: string) => void): Promise<void> {
  const ids = await readdir(path.join(config.stateDir, "apply")).catch(() => [] as string[]);
  for (const id of ids.filter((name) => z.uuid().safeParse(name).success).sort()) {
    const record = await readRecord(requestDir(config, id)).catch(() => null);
    if (!record?.undo || record.undo.reported) continue;
    if (!(await reportUndo(client, config, id, log))) return;
    log(`The server now knows that request ${id} was undone here.`);
  }
}
