// The first half of the loop with real parts: the agent CLI images the fixture disk, the server
// stores a qcow2 chain, and every stored image reads back equal to the disk as it was.
import { execFileSync, spawn } from "node:child_process";
import { closeSync, copyFileSync, existsSync, openSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import path from "node:path";
import { and, eq, gt } from "drizzle-orm";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { db } from "@/db/client";
import { images, imageUploads } from "@/db/schema";
import { createMachine } from "@/server/machines/machines";
import { createTestUser } from "@/server/testing/accounts";
import { AGENT_API_PREFIX } from "@/wire/agent";
import { EXTENT_STREAM_CONTENT_TYPE, encodeDataFrame, encodeMarkFrame, sha256 } from "@/wire/extent-stream";
import { changedBytes, freshFixtureDisk, mountPartition, runAgent, startAgent } from "./agent-backup";
import { APP_URL, expectNoHorizontalOverflow, launchChromium, newContext, screenshot, signIn } from "./support";

const store = process.env.IMAGE_STORE_DIR!;
const root = path.resolve(import.meta.dirname, "..");

function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const probe = createServer().listen(0, "127.0.0.1", () => {
      const { port } = probe.address() as { port: number };
      probe.close(() => resolve(port));
    });
  });
}
let dir: string;
let disk: string;
let config: string;
let machineId: string;

function backup(...flags: string[]) {
  const run = runAgent(["backup", "--config", config, "--device", disk, "--json", ...flags]);
  expect(run.status, run.stderr).toBe(0);
  return JSON.parse(run.stdout) as { imageId: string; kind: string; parentId: string | null; bytesSent: number; bytesRead: number };
}

/** The upload this machine's agent began after `since` (not one an earlier test left behind). */
async function uploadStartedSince(since: Date) {
  const [upload] = await db()
    .select()
    .from(imageUploads)
    .where(and(eq(imageUploads.machineId, machineId), gt(imageUploads.createdAt, since)));
  return upload;
}

async function imageFile(imageId: string) {
  const [image] = await db().select().from(images).where(eq(images.id, imageId));
  return path.join(store, image!.file);
}

function compareWith(qcow2: string, raw: string): string {
  return execFileSync("qemu-img", ["compare", "-f", "qcow2", "-F", "raw", qcow2, raw], { encoding: "utf8" }).trim();
}

let owner: Awaited<ReturnType<typeof createTestUser>>;
let officeOwner: typeof owner;

async function enrollNewMachine(name: string, configFile: string) {
  owner = await createTestUser();
  const { machine, enrollmentToken } = await createMachine({ ownerId: owner.id, name }, undefined, false);
  const enrolled = runAgent(["enroll", "--server", APP_URL, "--token", enrollmentToken, "--config", configFile]);
  expect(enrolled.status, enrolled.stderr).toBe(0);
  const stored = JSON.parse(readFileSync(configFile, "utf8"));
  writeFileSync(configFile, JSON.stringify({ ...stored, stateDir: path.join(path.dirname(configFile), `state-${name}`) }));
  return machine.id;
}

beforeAll(async () => {
  ({ dir, disk } = freshFixtureDisk());
  config = path.join(dir, "agent.json");
  machineId = await enrollNewMachine("office-pc", config);
  officeOwner = owner;
  // A file with data that the incremental will turn into zeros.
  const unmount = mountPartition(disk, path.join(dir, "mnt"));
  execFileSync("dd", ["if=/dev/urandom", `of=${path.join(dir, "mnt/home/alice/scratch.bin")}`, "bs=64k", "count=16", "status=none"]);
  unmount();
}, 600_000);

afterAll(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe("backing up the fixture disk", () => {
  it("stores base, incremental and independent images that each equal the disk at their moment", async () => {
    const base = backup();
    expect(base.kind).toBe("base");
    copyFileSync(disk, path.join(dir, "v1.raw"));

    const mnt = path.join(dir, "mnt");
    const unmount = mountPartition(disk, mnt);
    // While mounted read-write, a plain backup is refused and says what to do.
    const refused = runAgent(["backup", "--config", config, "--device", disk]);
    expect(refused.status).toBe(2);
    expect(refused.stderr).toMatch(/mounted read-write.*--freeze.*--allow-inconsistent/);
    writeFileSync(path.join(mnt, "home/alice/Documents/new-notes.txt"), "written at home\n");
    writeFileSync(path.join(mnt, "home/alice/Documents/report.txt"), "rewritten report\n".repeat(500));
    rmSync(path.join(mnt, "home/alice/Documents/budget.csv"));
    execFileSync("dd", ["if=/dev/zero", `of=${path.join(mnt, "home/alice/scratch.bin")}`, "bs=64k", "count=16", "conv=notrunc", "status=none"]);
    unmount();
    copyFileSync(disk, path.join(dir, "v2.raw"));

    const incremental = backup();
    expect(incremental.kind).toBe("incremental");
    expect(incremental.parentId).toBe(base.imageId);
    const changed = changedBytes(readFileSync(path.join(dir, "v1.raw")), readFileSync(path.join(dir, "v2.raw")));
    expect(changed).toBeGreaterThan(0);
    expect(incremental.bytesSent).toBeLessThanOrEqual(1.1 * changed + 1024 * 1024);

    const independent = backup("--independent");
    expect(independent.kind).toBe("independent");
    expect(independent.parentId).toBeNull();

    expect(compareWith(await imageFile(base.imageId), path.join(dir, "v1.raw"))).toBe("Images are identical.");
    expect(compareWith(await imageFile(incremental.imageId), path.join(dir, "v2.raw"))).toBe("Images are identical.");
    expect(compareWith(await imageFile(independent.imageId), path.join(dir, "v2.raw"))).toBe("Images are identical.");
    for (const image of [base, incremental, independent]) {
      execFileSync("qemu-img", ["check", "-q", await imageFile(image.imageId)]);
    }
    const info = JSON.parse(execFileSync("qemu-img", ["info", "--output=json", await imageFile(incremental.imageId)], { encoding: "utf8" }));
    expect(info["backing-filename"]).toBe(`${base.imageId}.qcow2`);
    expect(JSON.parse(execFileSync("qemu-img", ["info", "--output=json", await imageFile(independent.imageId)], { encoding: "utf8" }))["backing-filename"]).toBeUndefined();
  });

  it("inspects each image: the OS, hostname and filesystems, or 'no OS found' for a bare data disk", async () => {
    const [base] = await db().select().from(images).where(eq(images.machineId, machineId)).orderBy(images.createdAt).limit(1);
    const inspected = async (imageId: string) => {
      await expect
        .poll(async () => (await db().select().from(images).where(eq(images.id, imageId)))[0]?.inspectionState, {
          timeout: 600_000,
          interval: 2_000,
        })
        .toMatch(/done|failed/);
      return (await db().select().from(images).where(eq(images.id, imageId)))[0]!;
    };
    const office = await inspected(base!.id);
    expect(office.inspectionState).toBe("done");
    expect(office.inspection).toMatchObject({
      os: { type: "linux", productName: "Twinboot Office PC 1.0", hostname: "office-pc" },
      filesystems: [{ device: "/dev/sda1", type: "ext4" }],
    });

    // A data disk: one ext4 filesystem straight on the disk, no OS on it.
    const dataDisk = path.join(dir, "data.raw");
    execFileSync("truncate", ["-s", "32M", dataDisk]);
    execFileSync("mkfs.ext4", ["-q", "-F", dataDisk]);
    const dataConfig = path.join(dir, "data.json");
    await enrollNewMachine("data-disk", dataConfig);
    const run = runAgent(["backup", "--config", dataConfig, "--device", dataDisk, "--json"]);
    expect(run.status, run.stderr).toBe(0);
    const data = await inspected(JSON.parse(run.stdout).imageId);
    expect(data.inspectionState).toBe("done");
    expect(data.inspection).toMatchObject({ os: null, filesystems: [{ device: "/dev/sda", type: "ext4" }] });
  }, 900_000);

  it("shows the timeline in the browser, with inspection details, and downloads an image", async () => {
    const browser = await launchChromium();
    try {
      for (const kind of ["desktop", "phone"] as const) {
        const context = await newContext(browser, kind);
        const page = await context.newPage();
        await signIn(page, officeOwner);
        await page.getByRole("heading", { name: "Machines", exact: true }).waitFor();
        await page.getByRole("link", { name: /office-pc/ }).first().click();
        await expect.poll(() => page.getByRole("button", { name: /independent/ }).count()).toBe(1);
        await expect.poll(() => page.getByRole("button", { name: /incremental/ }).count()).toBe(1);
        await page.getByRole("button", { name: /independent/ }).click();
        await expect.poll(() => page.getByText(/Selected: independent image of/).count()).toBe(1);
        await page.getByRole("button", { name: /base/ }).click();
        const details = page.getByText("Twinboot Office PC 1.0").first();
        await expect.poll(() => details.isVisible()).toBe(true);
        await expectNoHorizontalOverflow(page);
        await screenshot(page, `timeline-${kind}`);
        if (kind === "desktop") {
          await page.getByLabel("Download as").selectOption("raw");
          const [download] = await Promise.all([page.waitForEvent("download"), page.getByRole("link", { name: "Download" }).click()]);
          expect(download.suggestedFilename()).toMatch(/^office-pc-\d{4}-\d{2}-\d{2}-\d{2}-\d{2}\.raw$/);
          const saved = path.join(dir, "downloaded.raw");
          await download.saveAs(saved);
          expect(execFileSync("qemu-img", ["compare", "-f", "raw", "-F", "raw", saved, path.join(dir, "v1.raw")], { encoding: "utf8" }).trim()).toBe(
            "Images are identical.",
          );
        }
        await context.close();
      }
    } finally {
      await browser.close();
    }
  });

  it("leaves no image when the agent is killed mid-upload, and the next run completes", async () => {
    const before = await db().select({ id: images.id }).from(images).where(eq(images.machineId, machineId));
    const since = new Date();
    const agent = startAgent(["backup", "--config", config, "--device", disk, "--independent", "--json"]);
    const exited = new Promise((resolve) => agent.on("exit", resolve));
    await expect
      .poll(async () => (await uploadStartedSince(since))?.bytesReceived ?? 0, {
        timeout: 60_000,
        interval: 20,
      })
      .toBeGreaterThan(0);
    agent.kill("SIGKILL");
    await exited;
    const after = await db().select({ id: images.id }).from(images).where(eq(images.machineId, machineId));
    expect(after.length).toBe(before.length);
    const next = backup();
    expect(["incremental", "independent"]).toContain(next.kind);
    expect(compareWith(await imageFile(next.imageId), disk)).toBe("Images are identical.");
  });

  it("survives a server killed mid-upload: the agent retries, the next server resumes, the image is exact", async () => {
    const port = await freePort();
    const server = `http://127.0.0.1:${port}`;
    // Both servers' output goes to one file, shown with the agent's if the test fails.
    const serverLog = path.join(dir, "killed-server.log");
    writeFileSync(serverLog, "");
    const startServer = () => {
      const out = openSync(serverLog, "a");
      const child = spawn(process.execPath, [path.join(root, "node_modules/.bin/tsx"), "server.ts"], {
        cwd: root,
        env: { ...process.env, PORT: String(port), INSPECTION_WORKER: "false" },
        stdio: ["ignore", out, out],
        detached: true,
      });
      closeSync(out);
      return child;
    };
    let first = startServer();
    await expect.poll(() => fetch(`${server}/healthz`).then((r) => r.status, () => 0), { timeout: 90_000 }).toBe(200);
    const viaSecond = path.join(dir, "via-second.json");
    writeFileSync(viaSecond, JSON.stringify({ ...JSON.parse(readFileSync(config, "utf8")), server }));
    const imageCount = async () => (await db().select({ id: images.id }).from(images).where(eq(images.machineId, machineId))).length;
    const imagesBefore = await imageCount();
    const since = new Date();
    // 64 MiB more to send, that compresses to nothing: a window wide enough to stop the agent in.
    const unmount = mountPartition(disk, path.join(dir, "mnt"));
    execFileSync("dd", ["if=/dev/urandom", `of=${path.join(dir, "mnt", "root", "big.bin")}`, "bs=1M", "count=64", "status=none"]);
    unmount();
    const agent = startAgent(["backup", "--config", viaSecond, "--device", disk, "--independent", "--json"]);
    let stdout = "";
    let stderr = "";
    agent.stdout.on("data", (chunk) => (stdout += chunk));
    agent.stderr.on("data", (chunk) => (stderr += chunk));
    const exited = new Promise<number | null>((resolve) => agent.on("exit", resolve));
    const diagnostics = () => `agent:\n${stderr}\nservers:\n${readFileSync(serverLog, "utf8").slice(-4000)}`;
    try {
      // Extents are being written once the server has an NBD daemon for the upload. The agent is
      // frozen there (SIGSTOP): mid-stream, or with its upload sent but not finalized — either
      // way the image cannot be made while the server is killed and replaced.
      const serverPids = () =>
        execFileSync("ps", ["-o", "pid=", "-g", String(first.pid)], { encoding: "utf8" }).trim().split(/\s+/).map(Number);
      // The server's NBD daemons run in process groups of their own, tagged with the server process.
      const nbdDaemonsOfServer = () => {
        const pids = serverPids();
        return readdirSync("/proc").filter((entry) => /^\d+$/.test(entry)).filter((entry) => {
          try {
            if (!readFileSync(`/proc/${entry}/comm`, "utf8").startsWith("qemu-storage")) return false;
            const owner = readFileSync(`/proc/${entry}/environ`, "latin1").split("\0").find((v) => v.startsWith("TWINBOOT_OWNER="));
            return owner !== undefined && pids.includes(Number(owner.split(".")[1]));
          } catch {
            return false;
          }
        });
      };
      await expect.poll(() => nbdDaemonsOfServer().length, { timeout: 60_000, interval: 20 }).toBe(1);
      agent.kill("SIGSTOP");
      // Kill the server's Node processes, as a crash would: the NBD daemon they started lives on,
      // holding its lock on the upload's file, and the next server must deal with it.
      const daemon = nbdDaemonsOfServer()[0]!;
      process.kill(-first.pid!, "SIGKILL");
      expect(existsSync(`/proc/${daemon}`), "the NBD daemon outlives the killed server").toBe(true);
      expect(await uploadStartedSince(since)).toBeDefined();
      expect(await imageCount()).toBe(imagesBefore);
      await new Promise((resolve) => setTimeout(resolve, 1000));
      first = startServer();
      agent.kill("SIGCONT");
      // The agent backs off up to a minute between attempts: give it several, and say why if it gives up.
      const outcome = await Promise.race([exited, new Promise<"still running">((resolve) => setTimeout(() => resolve("still running"), 240_000))]);
      expect(outcome, diagnostics()).toBe(0);
    } finally {
      agent.kill("SIGKILL");
      process.kill(-first.pid!, "SIGTERM");
    }
    const summary = JSON.parse(stdout) as { imageId: string };
    expect(compareWith(await imageFile(summary.imageId), disk)).toBe("Images are identical.");
    execFileSync("qemu-img", ["check", "-q", await imageFile(summary.imageId)]);
  }, 420_000);

  it("refuses a corrupted extent with a clear error, and another machine's credential with 403", async () => {
    const { credential } = JSON.parse(readFileSync(config, "utf8"));
    const otherConfig = path.join(dir, "other.json");
    await enrollNewMachine("other-pc", otherConfig);
    const other = JSON.parse(readFileSync(otherConfig, "utf8"));
    const api = (p: string) => new URL(`${AGENT_API_PREFIX}${p}`, APP_URL);
    const profile = { firmware: "bios", partitionTable: "mbr", diskBytes: 1 << 20, cpus: 1, memoryBytes: 1 << 30, nics: [] };
    const created = await fetch(api(`/machines/${machineId}/uploads`), {
      method: "POST",
      headers: { authorization: `Bearer ${credential}`, "content-type": "application/json" },
      body: JSON.stringify({ kind: "independent", virtualSize: 1 << 20, takenAt: new Date(), profile }),
    });
    expect(created.status).toBe(201);
    const { uploadId } = await created.json();

    // A stream whose second extent arrives damaged: the first is kept, the second refused.
    const good = Buffer.alloc(65536, 7);
    const damaged = Buffer.alloc(65536, 8);
    const stream = Buffer.concat([
      ...encodeDataFrame(0, good, sha256(good)),
      encodeMarkFrame(65536),
      ...encodeDataFrame(65536, damaged, sha256(Buffer.alloc(65536, 9))),
    ]);
    const corrupted = await fetch(api(`/machines/${machineId}/uploads/${uploadId}/extents`), {
      method: "PUT",
      headers: { authorization: `Bearer ${credential}`, "content-type": EXTENT_STREAM_CONTENT_TYPE },
      body: stream,
    });
    expect(corrupted.status).toBe(400);
    expect((await corrupted.json()).error).toMatch(/extent at offset 65536 does not match its sha256 .*corrupted on the way/);
    const state = await fetch(api(`/machines/${machineId}/uploads/${uploadId}`), { headers: { authorization: `Bearer ${credential}` } });
    expect(await state.json()).toMatchObject({ committedOffset: 65536, bytesReceived: 65536 });

    const intoOtherMachine = await fetch(api(`/machines/${machineId}/uploads/${uploadId}/extents`), {
      method: "PUT",
      headers: { authorization: `Bearer ${other.credential}`, "content-type": EXTENT_STREAM_CONTENT_TYPE },
      body: Buffer.concat(encodeDataFrame(0, good, sha256(good))),
    });
    expect(intoOtherMachine.status).toBe(403);

    for (const target of [`/machines/${machineId}/uploads`, `/machines/${machineId}`]) {
      const intruding = await fetch(api(target), {
        method: target.endsWith("uploads") ? "POST" : "GET",
        headers: { authorization: `Bearer ${other.credential}`, "content-type": "application/json" },
        body: target.endsWith("uploads") ? JSON.stringify({ kind: "independent", virtualSize: 1 << 20, takenAt: new Date(), profile }) : undefined,
      });
      expect(intruding.status).toBe(403);
    }
    const noCredential = await fetch(api(`/machines/${machineId}`));
    expect(noCredential.status).toBe(401);
  });

  it("runs as a daemon: backs up on its schedule, says when the next one is, and stops on SIGTERM", async () => {
    const daemonConfig = path.join(dir, "daemon.json");
    // Every 5 seconds, so that the test sees a scheduled run without waiting for an hour.
    writeFileSync(daemonConfig, JSON.stringify({ ...JSON.parse(readFileSync(config, "utf8")), device: disk, schedule: "*/5 * * * * *" }));
    const before = await db().select({ id: images.id }).from(images).where(eq(images.machineId, machineId));
    const daemon = startAgent(["run", "--config", daemonConfig]);
    let output = "";
    daemon.stdout.on("data", (chunk) => (output += chunk));
    daemon.stderr.on("data", (chunk) => (output += chunk));
    const exited = new Promise<number | null>((resolve) => daemon.on("exit", resolve));
    try {
      await expect.poll(() => output, { timeout: 120_000, interval: 500 }).toMatch(/Image \S+ \(incremental\) stored/);
      expect(output).toMatch(/on the schedule "\*\/5 \* \* \* \* \*"/);
      expect(output).toMatch(/Next backup at /);
      const after = await db().select({ id: images.id }).from(images).where(eq(images.machineId, machineId));
      expect(after.length).toBeGreaterThan(before.length);
      const status = runAgent(["status", "--config", daemonConfig]);
      expect(status.stdout).toMatch(/Next backup: .*schedule "\*\/5 \* \* \* \* \*"/);
    } finally {
      daemon.kill("SIGTERM");
    }
    expect(await exited).toBe(0);
  }, 180_000);

  it("as a daemon, keeps retrying with backoff while the server is down", async () => {
    const downConfig = path.join(dir, "daemon-down.json");
    const server = `http://127.0.0.1:${await freePort()}`;
    writeFileSync(downConfig, JSON.stringify({ ...JSON.parse(readFileSync(config, "utf8")), server, device: disk, schedule: "0 0 1 1 *" }));
    const daemon = startAgent(["run", "--now", "--config", downConfig]);
    let output = "";
    daemon.stdout.on("data", (chunk) => (output += chunk));
    const exited = new Promise<number | null>((resolve) => daemon.on("exit", resolve));
    try {
      await expect
        .poll(() => output, { timeout: 60_000, interval: 500 })
        .toMatch(/Backup failed: The server at \S+ cannot be reached \(ECONNREFUSED\)\. Retrying in 60 s\./);
      const status = runAgent(["status", "--config", downConfig]);
      expect(status.stdout).toMatch(/Last run: +failed at .*cannot be reached/);
    } finally {
      daemon.kill("SIGTERM");
    }
    expect(await exited).toBe(0);
  });

  it("tells the user clearly when the server is down", async () => {
    const closedPort = await freePort();
    const downConfig = path.join(dir, "down.json");
    const server = `http://127.0.0.1:${closedPort}`;
    writeFileSync(downConfig, JSON.stringify({ ...JSON.parse(readFileSync(config, "utf8")), server }));
    const status = runAgent(["status", "--config", downConfig]);
    expect(status.stdout).toContain(`not answering: The server at ${server} cannot be reached (ECONNREFUSED)`);
  });
});
