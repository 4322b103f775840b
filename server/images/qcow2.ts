// qcow2 files through qemu-img: create a standalone image or an overlay on a parent, and read
// back what qemu-img says about them. Arguments go as an array (no shell), with a timeout.
import path from "node:path";
import { runTool, type ToolResult } from "@/server/tools/run-tool";

const QEMU_IMG = "qemu-img";
const DEFAULT_TIMEOUT_MS = 60_000;
// compat=1.1 (qcow2 v3) is what lets an overlay record zero clusters over a backing file's data.
const CREATE_OPTIONS = "compat=1.1,cluster_size=65536";

/** Runs qemu-img; resolves with any exit code in `okExitCodes`, otherwise throws naming the command. */
function runQemuImg(args: string[], { timeoutMs = DEFAULT_TIMEOUT_MS, okExitCodes = [0] } = {}): Promise<ToolResult> {
  return runTool(QEMU_IMG, args, { timeoutMs, okExitCodes });
}

/** A standalone qcow2 (no backing file) of `virtualSize` bytes, e.g. the first backup of a disk. */
export async function createQcow2({ file, virtualSize }: { file: string; virtualSize: number }): Promise<void> {
  await runQemuImg(["create", "-q", "-f", "qcow2", "-o", CREATE_OPTIONS, file, String(virtualSize)]);
}

/**
 * A qcow2 overlay on `backingFile` (a qcow2), same virtual size. The backing path is stored
 * relative to the overlay's directory so a chain survives moving its directory.
 */
export async function createQcow2Overlay({ file, backingFile }: { file: string; backingFile: string }): Promise<void> {
  await runQemuImg(overlayCreateArgs({ file, backingFile }));
}

/** The qemu-img arguments that make such an overlay, for running qemu-img elsewhere (on a hypervisor host). */
export function overlayCreateArgs({ file, backingFile }: { file: string; backingFile: string }): string[] {
  const relativeBacking = path.relative(path.dirname(path.resolve(file)), path.resolve(backingFile));
  return ["create", "-q", "-f", "qcow2", "-o", CREATE_OPTIONS, "-b", relativeBacking, "-F", "qcow2", file];
}

/** A standalone qcow2 with the contents of `source` read through its whole backing chain. */
export async function createQcow2Flattened({ source, file }: { source: string; file: string }): Promise<void> {
  await runQemuImg(["convert", "-q", "-f", "qcow2", "-O", "qcow2", "-o", CREATE_OPTIONS, source, file], { timeoutMs: 6 * 60 * 60_000 });
}

export interface QemuImgInfo {
  format: string;
  virtualSize: number;
  /** Bytes the file occupies on disk. */
  actualSize: number;
  /** As stored in the header (relative for overlays made here). */
  backingFilename?: string;
  /** The image's directory joined with backingFilename, not normalized (".../b/../a/base.qcow2"). */
  fullBackingFilename?: string;
}

function field(json: Record<string, unknown>, name: string, type: "string" | "number", file: string) {
  const value = json[name];
  if (value === undefined) return undefined;
  if (typeof value !== type) throw new Error(`qemu-img info ${file}: "${name}" is not a ${type}`);
  return value;
}

/** The image itself, not its backing chain. */
export async function qemuImgInfo(file: string): Promise<QemuImgInfo> {
  const { stdout } = await runQemuImg(["info", "--output=json", file]);
  const parsed: unknown = JSON.parse(stdout);
  if (typeof parsed !== "object" || parsed === null) throw new Error(`qemu-img info ${file}: unexpected output`);
  const json = parsed as Record<string, unknown>;
  const format = field(json, "format", "string", file);
  const virtualSize = field(json, "virtual-size", "number", file);
  if (typeof format !== "string" || typeof virtualSize !== "number") throw new Error(`qemu-img info ${file}: format or virtual-size missing`);
  const actualSize = field(json, "actual-size", "number", file);
  const backingFilename = field(json, "backing-filename", "string", file);
  const fullBackingFilename = field(json, "full-backing-filename", "string", file);
  return {
    format,
    virtualSize,
    actualSize: typeof actualSize === "number" ? actualSize : 0,
    ...(typeof backingFilename === "string" && { backingFilename }),
    ...(typeof fullBackingFilename === "string" && { fullBackingFilename }),
  };
}

export interface QemuImgCheckResult {
  totalClusters: number;
  allocatedClusters: number;
  imageEndOffset: number;
}

/** Checks qcow2 metadata; resolves with a summary when clean, throws with qemu-img's findings otherwise (leaks included). */
export async function qemuImgCheck(file: string, { timeoutMs = DEFAULT_TIMEOUT_MS } = {}): Promise<QemuImgCheckResult> {
  // Exit 2 means corruptions, 3 leaked clusters; 1 (check could not run) throws in runQemuImg.
  const args = ["check", "--output=json", file];
  const { exitCode, stdout, stderr } = await runQemuImg(args, { timeoutMs, okExitCodes: [0, 2, 3] });
  const json = JSON.parse(stdout) as Record<string, unknown>;
  const count = (name: string) => (typeof json[name] === "number" ? json[name] : 0);
  if (exitCode !== 0) {
    const findings = `${count("corruptions")} corruptions, ${count("leaks")} leaked clusters`;
    throw new Error(`${[QEMU_IMG, ...args].join(" ")} exited with code ${exitCode}: ${findings}${stderr.trim() ? `\n${stderr.trim()}` : ""}`);
  }
  return { totalClusters: count("total-clusters"), allocatedClusters: count("allocated-clusters"), imageEndOffset: count("image-end-offset") };
}

/**
 * Whether two images (each read through its backing chain) have the same contents: true for
 * qemu-img's exit code 0, false for 1, and an error for anything else (2 and up).
 * Give formats to avoid probing, e.g. `{ formatB: "raw" }` for a raw file.
 */
export async function qemuImgCompare(
  a: string,
  b: string,
  { formatA, formatB, timeoutMs = 10 * DEFAULT_TIMEOUT_MS }: { formatA?: string; formatB?: string; timeoutMs?: number } = {},
): Promise<boolean> {
  const formats = [...(formatA ? ["-f", formatA] : []), ...(formatB ? ["-F", formatB] : [])];
  const { exitCode } = await runQemuImg(["compare", "-q", ...formats, a, b], { timeoutMs, okExitCodes: [0, 1] });
  return exitCode === 0;
}
