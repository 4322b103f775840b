// Downloads the new files of an apply-back request into a staging folder before anything at home
// is touched: one streamed tar answer, each file written as NAME.part, checked against the
// manifest's size and sha256, then renamed. A download cut short keeps what arrived whole; the
// next run checks those again and asks only for the rest. Applying starts only when every file
// is here, so a lost connection never leaves a half-applied computer.
import { once } from "node:events";
import { createWriteStream } from "node:fs";
import { mkdir, readdir, rename, rm } from "node:fs/promises";
import path from "node:path";
import { Readable } from "node:stream";
import { finished } from "node:stream/promises";
import { createHash } from "node:crypto";
import { extract as tarExtract } from "tar-stream";
import type { TApplyManifestEntry } from "@/wire/apply-back";
import { sha256OfFile } from "../apply/live-file";
import type { ServerClient } from "../server-client";

export class DownloadIncompleteError extends Error {}

/** Errors of this computer's own filesystem, as opposed to the connection's. */
const LOCAL_ERRORS = new Set(["ENOSPC", "EDQUOT", "EACCES", "EPERM", "EROFS", "EIO", "ENOTDIR", "EISDIR"]);

/** Where the staged copy of a change's new file is. */
export function stagedFile(dir: string, changeId: string): string {
  return path.join(dir, changeId);
}

async function alreadyStaged(dir: string, files: TApplyManifestEntry[]): Promise<Set<string>> {
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const present = new Set(await readdir(dir));
  const good = new Set<string>();
  for (const file of files) {
    await rm(`${stagedFile(dir, file.changeId)}.part`, { force: true });
    if (!present.has(file.changeId)) continue;
    if ((await sha256OfFile(stagedFile(dir, file.changeId))) === file.after!.sha256) good.add(file.changeId);
    else await rm(stagedFile(dir, file.changeId), { force: true });
  }
  return good;
}

async function receive(entry: AsyncIterable<Buffer>, file: TApplyManifestEntry, dir: string): Promise<void> {
  const part = `${stagedFile(dir, file.changeId)}.part`;
  const out = createWriteStream(part, { mode: 0o600 });
  const hash = createHash("sha256");
  let size = 0;
  for await (const chunk of entry) {
    hash.update(chunk);
    size += chunk.length;
    if (!out.write(chunk)) await once(out, "drain");
  }
  out.end();
  await finished(out);
  const sha256 = hash.digest("hex");
  if (size !== file.after!.size || sha256 !== file.after!.sha256) {
    await rm(part, { force: true });
    throw new Error(`${file.path}: the server sent ${size} bytes with sha256 ${sha256}, not the ${file.after!.size} bytes with sha256 ${file.after!.sha256} the change set lists. Nothing was applied.`);
  }
  await rename(part, stagedFile(dir, file.changeId));
}

/** Makes sure every new file of the request is in `dir`, whole and checked. */
export async function stageContent(options: {
  client: ServerClient;
  machineId: string;
  requestId: string;
  dir: string;
  entries: TApplyManifestEntry[];
  log: (line: string) => void;
}): Promise<void> {
  const { client, machineId, requestId, dir } = options;
  const files = options.entries.filter((e) => e.after?.type === "file");
  const staged = await alreadyStaged(dir, files);
  const missing = new Map(files.filter((f) => !staged.has(f.changeId)).map((f) => [f.changeId, f]));
  if (missing.size === 0) return;
  const bytes = [...missing.values()].reduce((sum, f) => sum + (f.after!.size ?? 0), 0);
  options.log(`Downloading ${missing.size} file${missing.size === 1 ? "" : "s"} (${(bytes / 2 ** 20).toFixed(1)} MiB)${staged.size ? `; ${staged.size} already here` : ""}.`);

  const connection = new AbortController();
  const { body } = await client.stream("POST", `/machines/${machineId}/apply-requests/${requestId}/content`, {
    body: JSON.stringify({ changeIds: staged.size ? [...missing.keys()] : null }),
    signal: connection.signal,
  });
  const extract = tarExtract();
  // streamx ends a destroyed stream with "close" only (no drain, no error): every wait races it.
  const closed = new Promise<void>((resolve) => extract.once("close", () => resolve()));
  const feeding = (async () => {
    try {
      for await (const chunk of Readable.fromWeb(body as import("node:stream/web").ReadableStream<Uint8Array>)) {
        if (extract.destroying) break;
        if (!extract.write(chunk as Buffer)) await Promise.race([once(extract, "drain"), closed]);
      }
      if (!extract.destroying) extract.end(undefined);
    } catch (error) {
      extract.destroy(error as Error);
    }
  })();
  try {
    for await (const entry of extract) {
      const file = missing.get(entry.header.name);
      if (!file || entry.header.type !== "file") throw new Error(`The server sent “${entry.header.name}”, which this request does not list. Nothing was applied.`);
      await receive(entry as AsyncIterable<Buffer>, file, dir);
      missing.delete(file.changeId);
    }
  } catch (error) {
    connection.abort();
    extract.destroy();
    await feeding;
    // Refused content and local trouble (a full disk, a read-only folder) are not a broken
    // download: running again would not help, so they are reported as they are.
    if (error instanceof Error && error.message.endsWith("Nothing was applied.")) throw error;
    if (LOCAL_ERRORS.has((error as NodeJS.ErrnoException).code ?? "")) {
      throw new Error(`Staging the changed files in ${dir} failed: ${(error as Error).message}. Nothing was applied.`);
    }
    throw new DownloadIncompleteError(`The download of the changed files broke off (${(error as Error).message}); what arrived whole is kept. Nothing was applied; run again to resume.`);
  }
  await feeding;
  if (missing.size > 0) throw new DownloadIncompleteError(`The server sent ${files.length - missing.size - staged.size} of the ${files.length - staged.size} files. Nothing was applied; run again to resume.`);
}
