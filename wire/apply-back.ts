// Apply-back on the wire: what the app sends to ask for it, what the agent hears and downloads,
// and the report the agent sends back. Shared by the server, the app and the agent.
import { z } from "zod";
import { applyBackMode, applyRequestState, changeKind } from "@/wire/enums";
import { ZIdentityProofSchema } from "./account";
import { ZFileStateSchema } from "./changes";

export const ZRequestApplyBackSchema = z.object({
  sessionId: z.uuid(),
  /** The machine to apply to: the session's own, or another of the user's. */
  machineId: z.uuid(),
  /** Changes left out (ids from changes.list); everything else is sent. */
  excludedChangeIds: z.array(z.uuid()).max(1_000_000).default([]),
  proof: ZIdentityProofSchema,
});
export type TRequestApplyBack = z.input<typeof ZRequestApplyBackSchema>;

/** The same changes, to the same machine, with the same ones left out, as a new request (after it failed, was declined or undone). */
export const ZSendApplyRequestAgainSchema = z.object({
  requestId: z.uuid(),
  proof: ZIdentityProofSchema,
});
export type TSendApplyRequestAgain = z.input<typeof ZSendApplyRequestAgainSchema>;

export const applyOutcome = ["applied", "already-applied", "conflict", "skipped"] as const;

export const ZApplyResultSchema = z.object({
  filesystem: z.string(),
  path: z.string(),
  outcome: z.enum(applyOutcome),
  /** Where the incoming version was put, beside the local one, for a conflict. */
  copy: z.string().optional(),
  detail: z.string().max(2000).optional(),
});
export type TApplyResult = z.infer<typeof ZApplyResultSchema>;

/** What the agent did, as it reports it. */
export const ZApplyReportSchema = z.object({
  /** Where each filesystem of the change set was applied on the computer. */
  roots: z.record(z.string(), z.string()),
  conflictPolicy: z.enum(["both", "keep-local", "keep-remote"]),
  counts: z.object({
    applied: z.number().int().min(0),
    alreadyApplied: z.number().int().min(0),
    conflicts: z.number().int().min(0),
    skipped: z.number().int().min(0),
  }),
  /** Every path that was not simply applied: conflicts (with the copy's path) and skipped ones (with why). */
  exceptions: z.array(ZApplyResultSchema).max(100_000),
});
export type TApplyReport = z.infer<typeof ZApplyReportSchema>;

/** A request as the agent sees it. */
export const ZAgentApplyRequestSchema = z.object({
  id: z.uuid(),
  sessionId: z.uuid(),
  /** Names conflict copies: NAME.twinboot-<tag>. */
  tag: z.string().regex(/^[0-9a-f]{8}$/),
  state: z.enum(applyRequestState),
  /** The machine's apply-back mode: whether to apply, ask first, or wait for `twinboot-agent apply`. */
  mode: z.enum(applyBackMode),
  createdAt: z.coerce.date(),
  sourceMachineName: z.string(),
  files: z.number().int().min(0),
  bytes: z.number().int().min(0),
});
export type TAgentApplyRequest = z.infer<typeof ZAgentApplyRequestSchema>;
export const ZAgentApplyRequestListSchema = z.object({ requests: z.array(ZAgentApplyRequestSchema) });

export const ZApplyManifestEntrySchema = z.object({
  changeId: z.uuid(),
  /** The filesystem (a device of the saved image) the path is in. */
  filesystem: z.string(),
  path: z.string(),
  change: z.enum(changeKind),
  before: ZFileStateSchema.nullable(),
  after: ZFileStateSchema.nullable(),
});
export type TApplyManifestEntry = z.infer<typeof ZApplyManifestEntrySchema>;

/**
 * A filesystem the change set compared. `mountPoint` is where the image's own fstab mounts it, as
 * its inspection found ("/", "/home"), or null: a suggestion the agent follows only when this
 * computer confirms it (agent/apply-back/apply-roots.ts), never an instruction.
 */
export const ZApplyFilesystemSchema = z.object({
  /** As libguestfs names it in the image: /dev/sda2, /dev/vg/root. */
  device: z.string().regex(/^\/dev\/[A-Za-z0-9._/-]+$/, "A filesystem's device is a /dev path."),
  type: z.string(),
  mountPoint: z.string().nullable(),
});
export type TApplyFilesystem = z.infer<typeof ZApplyFilesystemSchema>;

export const ZApplyManifestSchema = z.object({
  request: ZAgentApplyRequestSchema,
  /** Every filesystem of the change set, whichever of them this request's entries are in: where each goes is decided from these. */
  filesystems: z.array(ZApplyFilesystemSchema),
  entries: z.array(ZApplyManifestEntrySchema),
});
export type TApplyManifest = z.infer<typeof ZApplyManifestSchema>;

/** What putting a request back restored: paths as they were, and paths changed since the apply, whose newer version was kept aside. */
export const ZApplyUndoCountsSchema = z.object({
  restored: z.number().int().min(0),
  keptAside: z.number().int().min(0),
});
export type TApplyUndoCounts = z.infer<typeof ZApplyUndoCountsSchema>;

/** What the agent tells the server as it goes, and when the person undoes an applied request. */
export const ZApplyProgressSchema = z.discriminatedUnion("state", [
  z.object({ state: z.literal("applying") }),
  z.object({ state: z.literal("declined"), reason: z.string().max(2000).optional() }),
  z.object({ state: z.literal("failed"), problem: z.string().min(1).max(2000), report: ZApplyReportSchema.optional() }),
  z.object({ state: z.enum(["applied", "applied_with_conflicts"]), report: ZApplyReportSchema }),
  z.object({ state: z.literal("undone"), undo: ZApplyUndoCountsSchema }),
]);
export type TApplyProgress = z.infer<typeof ZApplyProgressSchema>;

/** The content download is a tar stream: one regular file per changed file, named by its change id. */
export const APPLY_CONTENT_TYPE = "application/x-tar";
/** The server-sent events stream sends this event, with ZAgentApplyRequestListSchema as data, on connecting and whenever a request arrives. */
export const APPLY_REQUESTS_EVENT = "apply-requests";
/** Which files the agent still needs (a resumed download), or null for all. */
export const ZApplyContentRequestSchema = z.object({ changeIds: z.array(z.uuid()).max(1_000_000).nullable() });
