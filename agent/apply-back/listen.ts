// `twinboot-agent run` hears of apply-back requests at once: it holds the server's event stream
// open (server-sent events), reconnecting with backoff whenever it drops or goes quiet, and acts
// on each request by the machine's mode: auto applies, prompt asks the person at the computer
// (a desktop notification where there is a desktop, and `twinboot-agent apply`), manual waits for
// `twinboot-agent apply`. A request already being applied when the agent stopped is resumed, and
// an undo the server has not heard of (it was out of reach) is reported with each snapshot.
import { createParser } from "eventsource-parser";
import { backoffDelay } from "@/wire/backoff";
import { APPLY_REQUESTS_EVENT, ZAgentApplyRequestListSchema, type TAgentApplyRequest } from "@/wire/apply-back";
import type { ConflictPolicy } from "../apply/apply-changes";
import type { AgentConfig } from "../config";
import { sleep } from "../prompt";
import { runTool } from "../run-tool";
import type { ServerClient } from "../server-client";
import { carryOutRequest, reportPendingUndos } from "./carry-out";

/** The server sends a comment every 20 s: this long without a byte means the connection is dead. */
const SILENCE_MS = 60_000;
/** A request whose apply keeps failing is tried this many times by the daemon, a minute apart. */
const MAX_AUTOMATIC_ATTEMPTS = 5;

/** Yields each snapshot of the machine's open requests for as long as the connection lasts. */
async function* requestSnapshots(client: ServerClient, machineId: string, signal: AbortSignal): AsyncGenerator<TAgentApplyRequest[]> {
  const connection = new AbortController();
  const stop = () => connection.abort();
  signal.addEventListener("abort", stop, { once: true });
  let silence = setTimeout(stop, SILENCE_MS);
  const snapshots: TAgentApplyRequest[][] = [];
  const parser = createParser({
    onEvent: (event) => {
      if (event.event === APPLY_REQUESTS_EVENT) snapshots.push(ZAgentApplyRequestListSchema.parse(JSON.parse(event.data)).requests);
    },
  });
  try {
    const { body } = await client.stream("GET", `/machines/${machineId}/apply-requests/events`, { signal: connection.signal });
    const decoder = new TextDecoder();
    for await (const chunk of body) {
      clearTimeout(silence);
      silence = setTimeout(stop, SILENCE_MS);
      parser.feed(decoder.decode(chunk, { stream: true }));
      while (snapshots.length > 0) yield snapshots.shift()!;
    }
  } finally {
    clearTimeout(silence);
    signal.removeEventListener("abort", stop);
    connection.abort();
  }
}

/** Tells a person at a desktop, if there is one; quietly does nothing otherwise. */
function desktopNotice(title: string, body: string): void {
  if (!process.env.DISPLAY && !process.env.WAYLAND_DISPLAY) return;
  void runTool("notify-send", ["--app-name=Twinboot", "--urgency=normal", title, body], { timeoutMs: 10_000 }).catch(() => undefined);
}

function describe(request: TAgentApplyRequest): string {
  return `${request.files} change${request.files === 1 ? "" : "s"} (${(request.bytes / 2 ** 20).toFixed(1)} MiB) from a session of “${request.sourceMachineName}”`;
}

export async function listenForApplyRequests(options: {
  client: ServerClient;
  config: AgentConfig;
  root: string;
  conflict: ConflictPolicy;
  log: (line: string) => void;
  signal: AbortSignal;
}): Promise<void> {
  const { client, config, log, signal } = options;
  /** Requests this process already acted on (or told about), so a new snapshot does not repeat them. */
  const handled = new Set<string>();
  const attempts = new Map<string, number>();
  let queue = Promise.resolve();

  const act = async (request: TAgentApplyRequest) => {
    if (request.mode === "auto" || request.state === "applying") {
      log(`${request.state === "applying" ? "Resuming" : "Applying"} request ${request.id}: ${describe(request)}.`);
      try {
        const { report } = await carryOutRequest({ client, config, requestId: request.id, root: options.root, conflict: options.conflict, log });
        const { applied, alreadyApplied, conflicts, skipped } = report.counts;
        log(`Request ${request.id} done: ${applied} applied, ${alreadyApplied} already so, ${conflicts} conflict${conflicts === 1 ? "" : "s"}, ${skipped} skipped.`);
        for (const exception of report.exceptions) log(`  ${exception.outcome}: ${exception.path}${exception.copy ? ` (the session's version is at ${exception.copy})` : ""} — ${exception.detail ?? ""}`);
      } catch (error) {
        log(`Request ${request.id} not finished: ${error instanceof Error ? error.message : String(error)}`);
        // Failures that may pass (the server or the download) come round again with the next
        // snapshot or the retry below, a few times; then they wait for `twinboot-agent apply`.
        const tries = (attempts.get(request.id) ?? 0) + 1;
        attempts.set(request.id, tries);
        if (tries < MAX_AUTOMATIC_ATTEMPTS) {
          handled.delete(request.id);
          setTimeout(() => signal.aborted || void poll(), 60_000).unref();
        } else {
          log(`Request ${request.id}: gave up after ${tries} attempts; run \`twinboot-agent apply ${request.id}\` to try again.`);
        }
      }
    } else if (request.mode === "prompt") {
      log(`Request ${request.id} waits for you: ${describe(request)}. Review it with \`twinboot-agent apply\`.`);
      desktopNotice("Changes from Twinboot are waiting", `${describe(request)}. Run “twinboot-agent apply” to review and apply them, or decline.`);
    } else {
      log(`Request ${request.id} is waiting: ${describe(request)}. Apply it with \`twinboot-agent apply\` when you choose.`);
    }
  };
  const take = (requests: TAgentApplyRequest[]) => {
    for (const request of requests) {
      if (handled.has(request.id)) continue;
      handled.add(request.id);
      queue = queue.then(() => act(request));
    }
  };
  const poll = async () => take((await client.applyRequests(config.machineId).catch(() => ({ requests: [] }))).requests);

  for (let attempt = 1; !signal.aborted; attempt++) {
    let heard = false;
    try {
      for await (const requests of requestSnapshots(client, config.machineId, signal)) {
        if (!heard) log("Listening for apply-back requests.");
        heard = true;
        // The server answers: undos done while it could not be told are reported now.
        queue = queue.then(() => reportPendingUndos(client, config, log)).catch((error: unknown) => log(`Undos not reported yet: ${error instanceof Error ? error.message : String(error)}`));
        attempt = 1;
        take(requests);
      }
    } catch (error) {
      if (signal.aborted) break;
      if (attempt === 1 || attempt % 10 === 0) log(`The server's event stream is not reachable (${error instanceof Error ? error.message : String(error)}); trying again.`);
    }
    if (signal.aborted) break;
    const delay = heard ? 1000 : backoffDelay(attempt, { baseMs: 1000, maxMs: 60_000 });
    await sleep(delay, signal);
  }
  await queue;
}
