// Enum values shared by the schema and by code that must not import drizzle (the browser, the agent).
export const userRole = ["admin", "user"] as const;
export type UserRole = (typeof userRole)[number];
export const applyBackMode = ["auto", "prompt", "manual"] as const;
export type ApplyBackMode = (typeof applyBackMode)[number];
/** base: the first full image; incremental: blocks changed since its parent; independent: a full image taken later. */
export const imageKind = ["base", "incremental", "independent"] as const;
export type ImageKind = (typeof imageKind)[number];
/** Where an image came from: the machine's agent, or a VM session saved on the server. */
export const imageOrigin = ["agent", "session"] as const;
export type ImageOrigin = (typeof imageOrigin)[number];
export const inspectionState = ["pending", "running", "done", "failed"] as const;
export type InspectionState = (typeof inspectionState)[number];
/** An admin's choice for a hypervisor host: take new sessions, or let the running ones end. Reachability is separate. */
export const hostMode = ["enabled", "draining"] as const;
export type HostMode = (typeof hostMode)[number];
/**
 * A VM session's life: requested → provisioning → running → stopping → saving → saved, or
 * discarded, or failed; host_lost when its host stopped answering (its overlay is kept, and it
 * can still be saved or discarded).
 */
export const sessionState = ["requested", "provisioning", "running", "stopping", "saving", "saved", "discarded", "failed", "host_lost"] as const;
export type SessionState = (typeof sessionState)[number];
/** States with a VM (possibly) on a host: what capacity and reconciliation count. */
export const liveSessionStates = ["provisioning", "running", "stopping"] as const satisfies readonly SessionState[];
export const finalSessionStates = ["saved", "discarded"] as const satisfies readonly SessionState[];
/** What finishing a session does with what changed in it. */
export const finishMode = ["incremental", "independent", "discard"] as const;
export type FinishMode = (typeof finishMode)[number];
export const vmType = ["compatible", "fast"] as const;
/** The firmware a session's VM runs with (wire/firmware.ts presets it from the disk). */
export const vmFirmware = ["bios", "uefi", "uefi-secure-boot"] as const;
export type VmFirmware = (typeof vmFirmware)[number];
/** The VMs' network: none at all, or each VM alone behind a NAT of its own (administrator's choice). */
export const vmNetwork = ["none", "nat"] as const;
export type VmNetwork = (typeof vmNetwork)[number];
/** The change-set job of a saved session (server/changes): the file-level diff with the image it started from. */
export const changeSetState = ["pending", "running", "done", "failed"] as const;
export type ChangeSetState = (typeof changeSetState)[number];
export const changeKind = ["added", "modified", "deleted"] as const;
export type ChangeKind = (typeof changeKind)[number];
/**
 * An apply-back request's life: pending (recorded) → notified (the agent heard of it) → applying →
 * applied | applied_with_conflicts | failed, or declined by the person at the computer; an applied
 * one becomes undone when the person puts the computer back (`twinboot-agent apply --undo`).
 */
export const applyRequestState = ["pending", "notified", "applying", "applied", "applied_with_conflicts", "failed", "declined", "undone"] as const;
export type ApplyRequestState = (typeof applyRequestState)[number];
/** The states in which the agent still has work to do on a request. */
export const openApplyRequestStates = ["pending", "notified", "applying"] as const satisfies readonly ApplyRequestState[];
/** The states an undo can end: what was applied can be put back. */
export const undoableApplyRequestStates = ["applied", "applied_with_conflicts"] as const satisfies readonly ApplyRequestState[];
/** The states from which the user may send the same changes again, as a new request. */
export const resendableApplyRequestStates = ["failed", "declined", "undone"] as const satisfies readonly ApplyRequestState[];
/**
 * A job's life (server/jobs): queued → running → done, or back to queued for another attempt after
 * a failure, or failed once its attempts are spent. The domain's own rows say what it means to a user.
 */
export const jobState = ["queued", "running", "done", "failed"] as const;
export type JobState = (typeof jobState)[number];
/** The job states in which a job may still run. */
export const openJobStates = ["queued", "running"] as const satisfies readonly JobState[];
