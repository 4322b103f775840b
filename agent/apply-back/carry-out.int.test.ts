// A request carried out against a fake server on a real directory tree: where its filesystems go
// is decided from the change set (a request of /home's files alone never lands in /), and an undo
// reaches the server even when the server was out of reach at the time.
import { createHash, randomUUID } from "node:crypto";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { Readable } from "node:stream";
import { pack as tarPack } from "tar-stream";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { TAgentApplyRequest, TApplyFilesystem, TApplyManifest, TApplyProgress } from "@/wire/apply-back";
import type { ApplyRequestState } from "@/wire/enums";
import { ZAgentConfigSchema, type AgentConfig } from "../config";
import { ServerError, type ServerClient } from "../server-client";
import { ApplyBackError, carryOutRequest, reportPendingUndos, reportUndo, undoRequest } from "./carry-out";

const NOTES = "notes from the session\n";
const sha256 = (text: string) => createHash("sha256").update(text).digest("hex");

let work: string;
let root: string;
let config: AgentConfig;

/** A server that knows one request: a change set of / (sda1) and /home (sda2), sending one file of /home. */
function fakeServer(options: { filesystems?: TApplyFilesystem[]; down?: () => boolean; refuseUndo?: boolean } = {}) {
  const requestId = randomUUID();
  const sessionId = randomUUID();
  const changeId = randomUUID();
  let state: ApplyRequestState = "notified";
  const reports: TApplyProgress[] = [];
  const request = (): TAgentApplyRequest => ({ id: requestId, sessionId, tag: sessionId.slice(0, 8), state, mode: "manual", createdAt: new Date(), sourceMachineName: "Office PC", files: 1, bytes: NOTES.length });
  const manifest = (): TApplyManifest => ({
    request: request(),
    filesystems: options.filesystems ?? [
      { device: "/dev/sda1", type: "ext4", mountPoint: "/" },
      { device: "/dev/sda2", type: "ext4", mountPoint: "/home" },
    ],
    entries: [
      {
        changeId,
        filesystem: "/dev/sda2",
        path: "/alice/notes.txt",
        change: "added",
        before: null,
        after: { type: "file", mode: 0o644, uid: 0, gid: 0, size: NOTES.length, mtime: new Date().toISOString(), sha256: sha256(NOTES), target: null },
      },
    ],
  });
  const reachable = () => {
    if (options.down?.()) throw new ServerError("The server at http://localhost cannot be reached (ECONNREFUSED).", 0);
  };
  const client = {
    applyRequests: async () => {
      reachable();
      return { requests: ["pending", "notified", "applying"].includes(state) ? [request()] : [] };
    },
    applyManifest: async () => {
      reachable();
      return manifest();
    },
    reportApply: async (_machineId: string, _id: string, progress: TApplyProgress) => {
      reachable();
      if (progress.state === "undone" && options.refuseUndo) throw new ServerError("This request is failed; it cannot become undone.", 409);
      reports.push(progress);
      state = progress.state;
      return { ok: true as const };
    },
    stream: async () => {
      reachable();
      const tar = tarPack();
      tar.entry({ name: changeId, size: NOTES.length }, NOTES);
      tar.finalize();
      return { body: Readable.toWeb(Readable.from(tar)) as ReadableStream<Uint8Array>, headers: new Headers() };
    },
  } as unknown as ServerClient;
  return { client, requestId, reports, setState: (next: ApplyRequestState) => (state = next) };
}

const carry = (client: ServerClient, requestId: string, extra: Partial<AgentConfig> = {}) =>
  carryOutRequest({ client, config: { ...config, ...extra }, requestId, root, conflict: "both", log: () => undefined });

beforeEach(() => {
  work = mkdtempSync(path.join(tmpdir(), "twinboot-carry-out-"));
  root = path.join(work, "computer");
  mkdirSync(path.join(root, "home/alice"), { recursive: true });
  config = ZAgentConfigSchema.parse({
    server: "http://localhost:3000",
    machineId: randomUUID(),
    machineName: "pc",
    credential: "tba_x",
    stateDir: path.join(work, "state"),
  });
});
afterEach(() => rmSync(work, { recursive: true, force: true }));

describe("carrying out a request of one filesystem of two", () => {
  it("never puts /home's files in /: with /home not confirmed here, it fails saying what to configure, writing nothing", async () => {
    const server = fakeServer();
    // The temporary folder's home/ is no mount point: the image's "/home" is not confirmed.
    await expect(carry(server.client, server.requestId)).rejects.toThrow(ApplyBackError);
    expect(existsSync(path.join(root, "alice/notes.txt"))).toBe(false);
    expect(existsSync(path.join(root, "home/alice/notes.txt"))).toBe(false);
    expect(server.reports).toEqual([{ state: "failed", problem: expect.stringContaining(`"applyRoots": { "/dev/sda2": "/its/mount/point" }`) }]);
  });

  it("goes where the configuration says", async () => {
    const server = fakeServer();
    const { report } = await carry(server.client, server.requestId, { applyRoots: { "/dev/sda2": path.join(root, "home") } });
    expect(readFileSync(path.join(root, "home/alice/notes.txt"), "utf8")).toBe(NOTES);
    expect(existsSync(path.join(root, "alice"))).toBe(false);
    expect(report.roots).toEqual({ "/dev/sda2": path.join(root, "home") });
  });

  it("goes under --root when the change set has that one filesystem only, and its place is not known", async () => {
    const server = fakeServer({ filesystems: [{ device: "/dev/sda2", type: "ext4", mountPoint: null }] });
    await carry(server.client, server.requestId);
    expect(readFileSync(path.join(root, "alice/notes.txt"), "utf8")).toBe(NOTES);
  });
});

describe("an undo", () => {
  it("is reported as undone, and when the server was out of reach, at the next contact, once", async () => {
    let down = false;
    const server = fakeServer({ filesystems: [{ device: "/dev/sda2", type: "ext4", mountPoint: null }], down: () => down });
    await carry(server.client, server.requestId);
    const log: string[] = [];

    down = true;
    const undone = await undoRequest(config, server.requestId);
    expect(undone.restored).toEqual([path.join(root, "alice/notes.txt")]);
    expect(existsSync(path.join(root, "alice/notes.txt"))).toBe(false);
    expect(await reportUndo(server.client, config, server.requestId, (line) => log.push(line))).toBe(false);
    await reportPendingUndos(server.client, config, (line) => log.push(line)); // still down: waits
    expect(server.reports.map((r) => r.state)).toEqual(["applying", "applied"]);

    down = false;
    await reportPendingUndos(server.client, config, (line) => log.push(line));
    expect(server.reports.at(-1)).toEqual({ state: "undone", undo: { restored: 1, keptAside: 0 } });
    expect(log).toContain(`The server now knows that request ${server.requestId} was undone here.`);
    await reportPendingUndos(server.client, config, (line) => log.push(line));
    expect(await reportUndo(server.client, config, server.requestId, (line) => log.push(line))).toBe(true);
    expect(server.reports.filter((r) => r.state === "undone")).toHaveLength(1);
    // Undone here: never applied again.
    server.setState("notified");
    await expect(carry(server.client, server.requestId)).rejects.toThrow(/was undone on this computer/);
  });

  it("of a request the server still has open ends it as failed; one the server refuses is not sent again", async () => {
    const open = fakeServer({ filesystems: [{ device: "/dev/sda2", type: "ext4", mountPoint: null }] });
    await carry(open.client, open.requestId);
    open.setState("applying"); // the report of the apply was lost
    await undoRequest(config, open.requestId);
    expect(await reportUndo(open.client, config, open.requestId, () => undefined)).toBe(true);
    expect(open.reports.at(-1)).toMatchObject({ state: "failed", problem: expect.stringContaining("undone at the computer") });

    const refusing = fakeServer({ filesystems: [{ device: "/dev/sda2", type: "ext4", mountPoint: null }], refuseUndo: true });
    await carry(refusing.client, refusing.requestId);
    await undoRequest(config, refusing.requestId);
    const log: string[] = [];
    expect(await reportUndo(refusing.client, config, refusing.requestId, (line) => log.push(line))).toBe(true);
    expect(log).toEqual([`The server did not take the undo of request ${refusing.requestId}: This request is failed; it cannot become undone.`]);
    await reportPendingUndos(refusing.client, config, (line) => log.push(line));
    expect(log).toHaveLength(1);
  });
});
