// `twinboot-agent apply`: the person at the computer sees what is waiting to come home, change by
// change, and applies it or declines it. Asks on a terminal; elsewhere needs --yes or --decline.
import type { TApplyManifestEntry } from "@/wire/apply-back";
import type { ConflictPolicy } from "../apply/apply-changes";
import type { AgentConfig } from "../config";
import type { ServerClient } from "../server-client";
import { ask } from "../prompt";
import { chooseRoots, readMounts } from "./apply-roots";
import { ApplyBackError, assertStillOpen, carryOutRequest, reportPendingUndos } from "./carry-out";

const SHOWN = 40;

function line(entry: TApplyManifestEntry): string {
  const mark = entry.change === "added" ? "+" : entry.change === "deleted" ? "-" : "~";
  const size = entry.after?.type === "file" ? ` (${entry.after.size} bytes)` : entry.after?.type === "symlink" ? ` -> ${entry.after.target}` : "";
  return `  ${mark} ${JSON.stringify(entry.path).slice(1, -1)}${size}`;
}

export async function applyCommand(options: {
  client: ServerClient;
  config: AgentConfig;
  /** A request id; without one, the oldest waiting request. */
  requestId?: string;
  answer: "yes" | "decline" | "ask";
  root: string;
  conflict: ConflictPolicy;
  log: (line: string) => void;
}): Promise<void> {
  const { client, config } = options;
  const { requests } = await client.applyRequests(config.machineId);
  await reportPendingUndos(client, config, options.log);
  if (!options.requestId && requests.length === 0) return void console.log("No changes are waiting to be applied to this computer.");
  const requestId = options.requestId ?? requests[0]!.id;
  const { request, filesystems, entries } = await client.applyManifest(config.machineId, requestId);
  assertStillOpen(request);

  const needed = [...new Set(entries.map((e) => e.filesystem))].sort();
  const roots = chooseRoots({ filesystems, needed, root: options.root, config, mounts: await readMounts() });
  console.log(`Request ${request.id}: ${request.files} change${request.files === 1 ? "" : "s"} from a session of “${request.sourceMachineName}”, made ${request.createdAt.toLocaleString()}.`);
  for (const [filesystem, root] of Object.entries(roots)) console.log(`${filesystem} goes to ${root}`);
  for (const entry of entries.slice(0, SHOWN)) console.log(line(entry));
  if (entries.length > SHOWN) console.log(`  … and ${entries.length - SHOWN} more`);
  if (requests.length > 1 && !options.requestId) console.log(`(${requests.length - 1} more request${requests.length === 2 ? "" : "s"} waiting after this one.)`);
  console.log(`A file changed here too is ${options.conflict === "both" ? `kept, with the session's version beside it as NAME.twinboot-${request.tag}` : options.conflict === "keep-local" ? "kept; the session's version is left out" : "replaced by the session's version"}.`);

  let answer = options.answer;
  if (answer === "ask") {
    if (!process.stdin.isTTY) throw new ApplyBackError("Not asking without a terminal: run again with --yes to apply, or --decline to refuse.");
    const reply = (await ask("Apply these changes? [y]es / [n]o, later / [d]ecline: ")).toLowerCase();
    answer = reply === "y" || reply === "yes" ? "yes" : reply === "d" || reply === "decline" ? "decline" : "ask";
  }
  if (answer === "ask") return void console.log(`Nothing applied. Run \`twinboot-agent apply ${request.id}\` when you are ready.`);
  if (answer === "decline") {
    await client.reportApply(config.machineId, request.id, { state: "declined", reason: "Declined at the computer." });
    return void console.log(`Declined: nothing from request ${request.id} will be applied.`);
  }
  const { report } = await carryOutRequest({ client, config, requestId: request.id, root: options.root, conflict: options.conflict, log: options.log });
  const { applied, alreadyApplied, conflicts, skipped } = report.counts;
  console.log(`Done: ${applied} applied, ${alreadyApplied} already so, ${conflicts} conflict${conflicts === 1 ? "" : "s"}, ${skipped} skipped.`);
  for (const exception of report.exceptions) {
    console.log(`  ${exception.outcome}: ${exception.path}${exception.copy ? ` — the session's version is at ${exception.copy}` : ""}${exception.detail ? ` (${exception.detail})` : ""}`);
  }
  console.log(`To put everything back: twinboot-agent apply --undo ${request.id}`);
}
