// The agent's configuration file (default /etc/twinboot/agent.json), written 0600 because it
// holds the machine credential.
import { mkdir, readFile, rename, writeFile } from "node:fs/promises";
import path from "node:path";
import { z } from "zod";
import { AGENT_CREDENTIAL_PREFIX } from "@/wire/agent";
import { WHEN_MOUNTED } from "./consistency";
import { ZScheduleSchema } from "./schedule";

export const DEFAULT_CONFIG_PATH = "/etc/twinboot/agent.json";

export const ZAgentConfigSchema = z.object({
  server: z.url(),
  machineId: z.uuid(),
  machineName: z.string(),
  credential: z.string().startsWith(AGENT_CREDENTIAL_PREFIX),
  /** The disk to image: a block device, or a disk image file standing in for one. */
  device: z.string().optional(),
  /** Where the block index of the last image is kept. */
  stateDir: z.string().default("/var/lib/twinboot-agent"),
  /** When `twinboot-agent run` backs up: hourly, daily, weekly or a cron expression. */
  schedule: ZScheduleSchema.default("daily"),
  /** What a scheduled backup does when a filesystem is mounted read-write and cannot be snapshotted. */
  whenMounted: z.enum(WHEN_MOUNTED).default("refuse"),
  /** Where each filesystem of the backed-up disk is on this computer, for changes in several (device in the image → folder). */
  applyRoots: z.record(z.string(), z.string().startsWith("/")).default({}),
  /** What apply-back does with a file changed both in a session and at home: keep both (the incoming one beside), keep-local, or keep-remote. */
  conflict: z.enum(["both", "keep-local", "keep-remote"]).default("both"),
  /** Where a single-filesystem change set is applied (the `--root` default). */
  applyRoot: z.string().startsWith("/").default("/"),
});
export type AgentConfig = z.infer<typeof ZAgentConfigSchema>;
export type AgentConfigInput = z.input<typeof ZAgentConfigSchema>;

export class ConfigError extends Error {}

export async function readAgentConfig(file: string): Promise<AgentConfig> {
  let text: string;
  try {
    text = await readFile(file, "utf8");
  } catch {
    throw new ConfigError(`No agent configuration at ${file}. Enroll first: twinboot-agent enroll --server URL --token TOKEN`);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    throw new ConfigError(`${file} is not valid JSON (${(error as Error).message}). Fix it, or enroll again.`);
  }
  const parsed = ZAgentConfigSchema.safeParse(json);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new ConfigError(`${file}: ${issue?.path.join(".")} ${issue?.message}`);
  }
  return parsed.data;
}

/** Writes the file atomically (temporary name, then rename), readable by root only. */
export async function writeAgentConfig(file: string, config: AgentConfigInput): Promise<void> {
  await mkdir(path.dirname(file), { recursive: true, mode: 0o700 });
  const temporary = `${file}.tmp-${process.pid}`;
  await writeFile(temporary, `${JSON.stringify(config, null, 2)}\n`, { mode: 0o600 });
  await rename(temporary, file);
}
