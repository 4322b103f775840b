// The one way the agent runs a system tool (lsblk, blockdev, losetup, lvs, lvcreate, fsfreeze,
// sync, notify-send), shaped like the server's (server/tools/run-tool.ts): arguments as an array,
// never a shell string; a timeout; stderr captured; a failure names the command and carries the
// tool's own message.
import { execFile } from "node:child_process";

const MAX_OUTPUT_BYTES = 16 * 1024 * 1024;

export interface ToolResult {
  exitCode: number;
  stdout: string;
  stderr: string;
}

export class ToolError extends Error {}

export function runTool(
  command: string,
  args: string[],
  { timeoutMs = 5 * 60_000, okExitCodes = [0], signal }: { timeoutMs?: number; okExitCodes?: number[]; signal?: AbortSignal } = {},
): Promise<ToolResult> {
  const described = [command, ...args].join(" ");
  return new Promise((resolve, reject) => {
    execFile(command, args, { timeout: timeoutMs, maxBuffer: MAX_OUTPUT_BYTES, encoding: "utf8", signal }, (error, stdout, stderr) => {
      const exitCode = error ? (typeof error.code === "number" ? error.code : -1) : 0;
      if (okExitCodes.includes(exitCode)) return resolve({ exitCode, stdout, stderr });
      const how = signal?.aborted
        ? "was stopped"
        : typeof error?.code === "string" // spawn failed, e.g. ENOENT when the tool is not installed
          ? "could not be run"
          : error?.killed
            ? `was stopped after ${timeoutMs} ms`
            : error?.signal
              ? `was killed by ${error.signal}`
              : `exited with code ${exitCode}`;
      const output = (stderr.trim() || stdout.trim() || error?.message) ?? "";
      reject(new ToolError(`${described} ${how}: ${output}`, { cause: error ?? undefined }));
    });
  });
}
