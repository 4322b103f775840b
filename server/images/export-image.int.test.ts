// Exporting images through the real qemu tools: every format of a base and of an incremental
// holds exactly the disk as of that image, the owner is checked in the query, and conversions
// leave no temporary file behind.
import { execFile } from "node:child_process";
import { randomBytes } from "node:crypto";
import { createWriteStream } from "node:fs";
import { mkdir, mkdtemp, readdir, rm, stat, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { pipeline } from "node:stream/promises";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { db } from "@/db/client";
import { images } from "@/db/schema";
import { NotFoundError } from "@/server/errors";
import { createMachine } from "@/server/machines/machines";
import { createTestUser } from "@/server/testing/accounts";
import { OWNER_TAG } from "@/server/tools/child-processes";
import { EXPORT_FORMATS, exportImage, removeLeftoverExports } from "./export-image";
import { createQcow2Overlay } from "./qcow2";
import { imageFileName, storePath, storeRoot } from "./store";

const run = promisify(execFile);
const DISK_BYTES = 8 * 1024 * 1024;
let work: string;
let ownerId: string;
let baseId: string;
let incrementalId: string;
/** The disk as of each image, as raw files. */
const asOf: Record<string, string> = {};

beforeAll(async () => {
  work = await mkdtemp(path.join(os.tmpdir(), "twinboot-export-"));
  const owner = await createTestUser();
  ownerId = owner.id;
  const { machine } = await createMachine({ ownerId, name: "Front desk PC" }, undefined, false);
  await mkdir(storePath(machine.id), { recursive: true });

  const baseRaw = path.join(work, "base.raw");
  await writeFile(baseRaw, Buffer.concat([randomBytes(DISK_BYTES / 2), Buffer.alloc(DISK_BYTES / 2)]));
  baseId = crypto.randomUUID();
  await run("qemu-img", ["convert", "-f", "raw", "-O", "qcow2", baseRaw, storePath(imageFileName(machine.id, baseId))]);
  asOf[baseId] = baseRaw;

  // The incremental changes a partial cluster, fills a zero region and zeroes a data region.
  incrementalId = crypto.randomUUID();
  const overlay = storePath(imageFileName(machine.id, incrementalId));
  await createQcow2Overlay({ file: overlay, backingFile: storePath(imageFileName(machine.id, baseId)) });
  await run("qemu-io", ["-f", "qcow2", "-c", "write -P 0x5a 1000 3000", "-c", "write -P 0x33 6M 128k", "-c", "write -z 64k 256k", overlay]);
  const incrementalRaw = path.join(work, "incremental.raw");
  await run("qemu-img", ["convert", "-O", "raw", overlay, incrementalRaw]);
  asOf[incrementalId] = incrementalRaw;

  const common = { machineId: machine.id, origin: "agent" as const, virtualSize: DISK_BYTES, bytesStored: 0, takenAt: new Date() };
  await db().insert(images).values([
    { ...common, id: baseId, kind: "base", file: imageFileName(machine.id, baseId) },
    { ...common, id: incrementalId, parentId: baseId, kind: "incremental", file: imageFileName(machine.id, incrementalId) },
  ]);
});

afterAll(async () => {
  await rm(work, { recursive: true, force: true });
});

describe("exporting an image", () => {
  for (const which of ["base", "incremental"] as const) {
    for (const format of EXPORT_FORMATS) {
      it(`gives the ${which} image as a standalone ${format} identical to the disk as of that image`, async () => {
        const imageId = which === "base" ? baseId : incrementalId;
        const download = await exportImage({ ownerId, imageId, format });
        expect(download.fileName).toMatch(new RegExp(`^Front-desk-PC-\\d{4}-\\d{2}-\\d{2}-\\d{2}-\\d{2}\\.${format}$`));
        const file = path.join(work, `${which}.${format}`);
        await pipeline(download.stream, createWriteStream(file));
        const { size } = await stat(file);
        expect(size).toBe(download.size);
        if (format === "raw") expect(size).toBe(DISK_BYTES);
        const info = JSON.parse((await run("qemu-img", ["info", "--output=json", "-f", format, file])).stdout);
        expect(info["backing-filename"]).toBeUndefined();
        await run("qemu-img", ["compare", "-f", format, "-F", "raw", file, asOf[imageId]!]);
      });
    }
  }

  it("leaves no converted file behind once the download is read", async () => {
    const names = await readdir(path.join(storeRoot(), ".exports")).catch(() => []);
    expect(names).toEqual([]);
  });

  it("finds another user's image nowhere", async () => {
    const stranger = await createTestUser();
    await expect(exportImage({ ownerId: stranger.id, imageId: baseId, format: "raw" })).rejects.toBeInstanceOf(NotFoundError);
  });

  it("removes at start only the conversions whose server is gone, not another live server's", async () => {
    const dir = path.join(storeRoot(), ".exports");
    await mkdir(dir, { recursive: true });
    const mine = path.join(dir, `${os.hostname()}.${OWNER_TAG}.${randomBytes(4).toString("hex")}.vmdk`);
    const deadServers = path.join(dir, `${os.hostname()}.${OWNER_TAG.split(".")[0]}.999999999.1.${randomBytes(4).toString("hex")}.vmdk`);
    await writeFile(mine, "in progress");
    await writeFile(deadServers, "left by a killed server");
    await removeLeftoverExports();
    expect(await readdir(dir)).toContain(path.basename(mine));
    expect(await readdir(dir)).not.toContain(path.basename(deadServers));
    await rm(mine);
  });
});
