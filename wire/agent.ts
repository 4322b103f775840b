// Wire schemas of the agent API (server/agent-api, app/api/agent), shared with the agent CLI.
import { z } from "zod";
import { imageKind } from "@/wire/enums";

export const AGENT_API_PREFIX = "/api/agent/v1";
export const ENROLLMENT_TOKEN_PATTERN = /^tbe_[A-Za-z0-9_-]{43}$/;
export const AGENT_CREDENTIAL_PREFIX = "tba_";

export const ZEnrollRequestSchema = z.object({
  token: z.string().trim().regex(ENROLLMENT_TOKEN_PATTERN, "That is not an enrollment token (it starts with tbe_)."),
});
export const ZEnrollResponseSchema = z.object({
  machineId: z.uuid(),
  machineName: z.string(),
  credential: z.string().startsWith(AGENT_CREDENTIAL_PREFIX),
});
export type TEnrollResponse = z.infer<typeof ZEnrollResponseSchema>;

/** What the agent found of the physical computer; later shapes the VM. */
export const ZMachineProfileSchema = z.object({
  /** The firmware of the computer the agent runs on: a hint only (the server reads the disk). */
  firmware: z.enum(["bios", "uefi"]),
  /** Whether that computer boots with Secure Boot on (its EFI variable); null when it cannot be read. Older agents leave it out. */
  secureBoot: z.boolean().nullable().optional(),
  partitionTable: z.enum(["mbr", "gpt", "none", "unknown"]),
  diskBytes: z.number().int().nonnegative(),
  cpus: z.number().int().positive().max(1024),
  memoryBytes: z.number().int().nonnegative(),
  nics: z.array(z.object({ name: z.string().max(64), mac: z.string().max(32) })).max(64),
});
export type TMachineProfile = z.infer<typeof ZMachineProfileSchema>;

export const ZAgentMachineStateSchema = z.object({
  machineId: z.uuid(),
  machineName: z.string(),
  lastAgentImage: z.object({ id: z.uuid(), takenAt: z.coerce.date(), virtualSize: z.number() }).nullable(),
});
export type TAgentMachineState = z.infer<typeof ZAgentMachineStateSchema>;

export const MAX_DISK_BYTES = 64 * 1024 ** 4;

export const ZCreateUploadRequestSchema = z
  .object({
    kind: z.enum(imageKind),
    /** For an incremental: the agent's previous image, whose blocks it compared against. */
    parentImageId: z.uuid().optional(),
    virtualSize: z.number().int().positive().max(MAX_DISK_BYTES),
    takenAt: z.coerce.date(),
    profile: ZMachineProfileSchema,
  })
  .refine((u) => (u.kind === "incremental") === (u.parentImageId !== undefined), {
    message: "An incremental upload names its parent image; a base or independent one does not.",
    path: ["parentImageId"],
  });
export type TCreateUploadRequest = z.infer<typeof ZCreateUploadRequestSchema>;

export const ZUploadStateSchema = z.object({
  uploadId: z.uuid(),
  /** Everything before this offset is stored durably; a resumed upload continues from here. */
  committedOffset: z.number().int().nonnegative(),
  bytesReceived: z.number().int().nonnegative(),
});
export type TUploadState = z.infer<typeof ZUploadStateSchema>;

export const ZImageSummarySchema = z.object({
  id: z.uuid(),
  kind: z.enum(imageKind),
  parentId: z.uuid().nullable(),
  virtualSize: z.number(),
  bytesStored: z.number(),
  takenAt: z.coerce.date(),
});
export type TImageSummary = z.infer<typeof ZImageSummarySchema>;

export const ZAgentErrorSchema = z.object({ error: z.string() });
