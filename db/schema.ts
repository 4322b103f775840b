// The database schema: one table per record the product keeps. Migrations under drizzle/
// are generated from this file by drizzle-kit, never edited by hand.
import { sql } from "drizzle-orm";
import {
  bigint,
  boolean,
  check,
  type AnyPgColumn,
  index,
  inet,
  integer,
  jsonb,
  pgEnum,
  pgTable,
  text,
  timestamp,
  uniqueIndex,
  uuid,
} from "drizzle-orm/pg-core";
import * as enums from "@/wire/enums";
import type { TApplyReport, TApplyUndoCounts } from "@/wire/apply-back";
import type { FileState } from "@/wire/changes";

const createdAt = () => timestamp("created_at", { withTimezone: true }).notNull().defaultNow();

export const userRole = pgEnum("user_role", enums.userRole);
export type UserRole = (typeof userRole.enumValues)[number];
export const finishMode = pgEnum("finish_mode", enums.finishMode);

export const users = pgTable(
  "users",
  {
    id: uuid("id").primaryKey().defaultRandom(),
    email: text("email").notNull(),
    passwordHash: text("password_hash").notNull(),
    role: userRole("role").notNull().default("user"),
    /** TOTP shared secret, encrypted with DATA_ENCRYPTION_KEY; null while the second factor is off. */
    totpSecret: text("totp_secret"),
    /** A secret shown as a QR code but not yet confirmed with a code. */
    totpPendingSecret: text("totp_pending_secret"),
    /** The last TOTP time step accepted, so that a code works once. */
    totpLastStep: integer("totp_last_step"),
    failedSignIns: integer("failed_sign_ins").notNull().default(0),
    lockedUntil: timestamp("locked_until", { withTimezone: true }),
    /** A running VM with no console input for this long is finished; null: never. */
    idleTimeoutMinutes: integer("idle_timeout_minutes").default(60),
    /** How a VM is finished when the user does not choose: idle timeout, signing out. */
    defaultFinishMode: finishMode("default_finish_mode").notNull().default("incremental"),
    createdAt: createdAt(),
  },
  (t) => [uniqueIndex("users_email_key").on(sql`lower(${t.email})`)],
);
export type User = typeof users.$inferSelect;

export const recoveryCodes = pgTable(
  "recovery_codes",
  {
    id: uuid("id").primaryKey().defaultRandom(),
    userId: uuid("user_id")
      .notNull()
      .references(() => users.id, { onDelete: "cascade" }),
    codeHash: text("code_hash").notNull(),
    usedAt: timestamp("used_at", { withTimezone: true }),
    createdAt: createdAt(),
  },
  (t) => [uniqueIndex("recovery_codes_user_hash_key").on(t.userId, t.codeHash)],
);

/** A signed-in browser. The cookie's JWT only carries this row's id, so the server can revoke it. */
export const authSessions = pgTable(
  "auth_sessions",
  {
    id: uuid("id").primaryKey().defaultRandom(),
    userId: uuid("user_id")
      .notNull()
      .references(() => users.id, { onDelete: "cascade" }),
    ip: inet("ip"),
    userAgent: text("user_agent"),
    createdAt: createdAt(),
    lastSeenAt: timestamp("last_seen_at", { withTimezone: true }).notNull().defaultNow(),
    expiresAt: timestamp("expires_at", { withTimezone: true }).notNull(),
    revokedAt: timestamp("revoked_at", { withTimezone: true }),
  },
  (t) => [index("auth_sessions_user_idx").on(t.userId)],
);
export type AuthSession = typeof authSessions.$inferSelect;

export const applyBackMode = pgEnum("apply_back_mode", enums.applyBackMode);
export type { ApplyBackMode } from "@/wire/enums";

export const machines = pgTable(
  "machines",
  {
    id: uuid("id").primaryKey().defaultRandom(),
    ownerId: uuid("owner_id")
      .notNull()
      .references(() => users.id, { onDelete: "cascade" }),
    name: text("name").notNull(),
    /** sha256 of the one-time enrollment token; null once the agent has enrolled. */
    enrollmentTokenHash: text("enrollment_token_hash"),
    enrollmentTokenExpiresAt: timestamp("enrollment_token_expires_at", { withTimezone: true }),
    enrolledAt: timestamp("enrolled_at", { withTimezone: true }),
    /** sha256 of the agent's machine credential, issued at enrollment. */
    agentCredentialHash: text("agent_credential_hash"),
    /**
     * The last image this machine's agent sent. An incremental's parent is this image, even when
     * session images were added since: the timeline is a tree.
     */
    lastAgentImageId: uuid("last_agent_image_id"),
    applyBackMode: applyBackMode("apply_back_mode").notNull().default("prompt"),
    createdAt: createdAt(),
  },
  (t) => [
    uniqueIndex("machines_owner_name_key").on(t.ownerId, sql`lower(${t.name})`),
    uniqueIndex("machines_enrollment_token_key").on(t.enrollmentTokenHash),
    uniqueIndex("machines_agent_credential_key").on(t.agentCredentialHash),
  ],
);
export type Machine = typeof machines.$inferSelect;

export const auditAction = pgEnum("audit_action", [
  "sign_in",
  "sign_in_failed",
  "account_locked",
  "sign_out",
  "sign_out_everywhere",
  "session_revoked",
  "password_changed",
  "totp_enabled",
  "totp_disabled",
  "recovery_code_used",
  "recovery_codes_regenerated",
  "user_created",
  "machine_created",
  "machine_renamed",
  "machine_deleted",
  "enrollment_token_issued",
  "apply_back_mode_changed",
  "machine_enrolled",
  "image_exported",
  "hypervisor_added",
  "hypervisor_mode_changed",
  "hypervisor_removed",
  "vm_network_changed",
  "changed_file_downloaded",
  "apply_back_requested",
]);
export type AuditAction = (typeof auditAction.enumValues)[number];

export const auditEvents = pgTable(
  "audit_events",
  {
    id: uuid("id").primaryKey().defaultRandom(),
    at: timestamp("at", { withTimezone: true }).notNull().defaultNow(),
    /** The user the event is about; null when a sign-in named an unknown email. */
    userId: uuid("user_id").references(() => users.id, { onDelete: "set null" }),
    action: auditAction("action").notNull(),
    ip: inet("ip"),
    userAgent: text("user_agent"),
    detail: jsonb("detail").$type<Record<string, unknown>>().notNull().default({}),
    /** false for actions taken through the admin CLI rather than by the user. */
    byUser: boolean("by_user").notNull().default(true),
  },
  (t) => [
    index("audit_events_user_at_idx").on(t.userId, t.at),
    index("audit_events_ip_action_at_idx").on(t.ip, t.action, t.at),
  ],
);
export type AuditEvent = typeof auditEvents.$inferSelect;

export const imageKind = pgEnum("image_kind", enums.imageKind);
export const inspectionState = pgEnum("inspection_state", enums.inspectionState);
export const imageOrigin = pgEnum("image_origin", enums.imageOrigin);
export type { ImageKind, ImageOrigin } from "@/wire/enums";

/**
 * A point-in-time disk image of a machine: a read-only qcow2 in the image store. An incremental
 * image is an overlay whose backing file is its parent's; the parent links make a tree.
 * A row exists only for a complete, checked, fsynced file.
 */
export const images = pgTable(
  "images",
  {
    id: uuid("id").primaryKey().defaultRandom(),
    machineId: uuid("machine_id")
      .notNull()
      .references(() => machines.id, { onDelete: "cascade" }),
    parentId: uuid("parent_id").references((): AnyPgColumn => images.id, { onDelete: "restrict" }),
    kind: imageKind("kind").notNull(),
    origin: imageOrigin("origin").notNull(),
    /** The file's path relative to the image store. */
    file: text("file").notNull(),
    virtualSize: bigint("virtual_size", { mode: "number" }).notNull(),
    bytesStored: bigint("bytes_stored", { mode: "number" }).notNull(),
    /** What the agent reported of the machine: firmware, partition table, CPUs, memory, NICs. */
    profile: jsonb("profile").$type<Record<string, unknown>>().notNull().default({}),
    /** When the disk was read (the backup's moment on the timeline). */
    takenAt: timestamp("taken_at", { withTimezone: true }).notNull(),
    /** The inspection job's state; a new image waits for it (server/images/inspection-job.ts). */
    inspectionState: inspectionState("inspection_state").notNull().default("pending"),
    /** When a worker took the inspection; a claim this old was left by a crashed worker. */
    inspectionClaimedAt: timestamp("inspection_claimed_at", { withTimezone: true }),
    /** What libguestfs found (ImageInspection), or `{ error }` when the inspection failed. */
    inspection: jsonb("inspection").$type<Record<string, unknown>>(),
    createdAt: createdAt(),
  },
  (t) => [index("images_machine_taken_idx").on(t.machineId, t.takenAt), index("images_parent_idx").on(t.parentId)],
);
export type Image = typeof images.$inferSelect;

/**
 * An agent's upload in progress. Its qcow2 lives beside the machine's images under a temporary
 * name; `committedOffset` only moves after the written data was flushed, so a crash or a dropped
 * connection resumes from there. Abandoned uploads are deleted with their file.
 */
export const imageUploads = pgTable("image_uploads", {
  id: uuid("id").primaryKey().defaultRandom(),
  machineId: uuid("machine_id")
    .notNull()
    .references(() => machines.id, { onDelete: "cascade" }),
  parentId: uuid("parent_id").references(() => images.id, { onDelete: "cascade" }),
  kind: imageKind("kind").notNull(),
  file: text("file").notNull(),
  virtualSize: bigint("virtual_size", { mode: "number" }).notNull(),
  committedOffset: bigint("committed_offset", { mode: "number" }).notNull().default(0),
  bytesReceived: bigint("bytes_received", { mode: "number" }).notNull().default(0),
  profile: jsonb("profile").$type<Record<string, unknown>>().notNull().default({}),
  takenAt: timestamp("taken_at", { withTimezone: true }).notNull(),
  createdAt: createdAt(),
  lastActivityAt: timestamp("last_activity_at", { withTimezone: true }).notNull().defaultNow(),
});
export type ImageUpload = typeof imageUploads.$inferSelect;

export const hostMode = pgEnum("host_mode", enums.hostMode);

/**
 * A hypervisor host of the pool, reached over SSH only. Its host key is pinned at registration;
 * the private key the server logs in with is encrypted with DATA_ENCRYPTION_KEY.
 */
export const hypervisorHosts = pgTable(
  "hypervisor_hosts",
  {
    id: uuid("id").primaryKey().defaultRandom(),
    name: text("name").notNull(),
    sshHost: text("ssh_host").notNull(),
    sshPort: integer("ssh_port").notNull().default(22),
    sshUser: text("ssh_user").notNull(),
    sshPrivateKey: text("ssh_private_key").notNull(),
    /** "SHA256:…" of the host key seen at registration; any other key is refused. */
    hostKeyFingerprint: text("host_key_fingerprint").notNull(),
    /** qemu:///system on a real host; qemu:///session gives each test host a libvirt of its own. */
    libvirtUri: text("libvirt_uri").notNull().default("qemu:///system"),
    mode: hostMode("mode").notNull().default("enabled"),
    /** From the last health check: whether the host answered, and if not, why. */
    reachable: boolean("reachable").notNull().default(true),
    problem: text("problem"),
    checkedAt: timestamp("checked_at", { withTimezone: true }),
    cpus: integer("cpus").notNull(),
    memoryBytes: bigint("memory_bytes", { mode: "number" }).notNull(),
    /** Whether a real KVM probe succeeded on the host; sessions use TCG otherwise. */
    kvm: boolean("kvm").notNull().default(false),
    createdAt: createdAt(),
  },
  (t) => [
    uniqueIndex("hypervisor_hosts_name_idx").on(t.name),
    // One libvirt, one record (server/pool/hosts.ts).
    uniqueIndex("hypervisor_hosts_target_idx").on(t.sshHost, t.sshPort, t.sshUser, t.libvirtUri),
  ],
);
export type HypervisorHost = typeof hypervisorHosts.$inferSelect;

export const sessionState = pgEnum("session_state", enums.sessionState);
export const vmType = pgEnum("vm_type", enums.vmType);
export const vmNetwork = pgEnum("vm_network", enums.vmNetwork);
export const vmFirmware = pgEnum("vm_firmware", enums.vmFirmware);

/**
 * A VM booted from an image on a hypervisor host. Each change of state is one conditional update
 * (server/sessions/session-state.ts); the overlay file is kept until it became an image or the
 * user discarded it.
 */
export const sessions = pgTable(
  "sessions",
  {
    id: uuid("id").primaryKey().defaultRandom(),
    userId: uuid("user_id")
      .notNull()
      .references(() => users.id, { onDelete: "cascade" }),
    machineId: uuid("machine_id")
      .notNull()
      .references(() => machines.id, { onDelete: "cascade" }),
    /** The image the session started from: the parent of the image it may become. */
    imageId: uuid("image_id")
      .notNull()
      .references(() => images.id, { onDelete: "cascade" }),
    /** Null before placement, and for finished sessions of a host since removed. */
    hostId: uuid("host_id").references(() => hypervisorHosts.id, { onDelete: "set null" }),
    vmType: vmType("vm_type").notNull(),
    /** Chosen at start, preset from the disk (wire/firmware.ts); the VM's boots keep it. */
    firmware: vmFirmware("firmware").notNull().default("bios"),
    /** The network the VM was given, as the administrator's setting was when it started. */
    network: vmNetwork("network").notNull().default("none"),
    state: sessionState("state").notNull().default("requested"),
    finishMode: finishMode("finish_mode"),
    cpus: integer("cpus"),
    memoryBytes: bigint("memory_bytes", { mode: "number" }),
    /** The qcow2 overlay, relative to the image store. */
    overlayFile: text("overlay_file"),
    vncSocketPath: text("vnc_socket_path"),
    /** The image the session became, once saved. */
    savedImageId: uuid("saved_image_id").references(() => images.id, { onDelete: "set null" }),
    /** Why it failed or was lost, in words for the user. */
    problem: text("problem"),
    createdAt: createdAt(),
    updatedAt: timestamp("updated_at", { withTimezone: true }).notNull().defaultNow(),
    /** When the VM started running, and when it stopped: the basis of usage and billing. */
    runningAt: timestamp("running_at", { withTimezone: true }),
    endedAt: timestamp("ended_at", { withTimezone: true }),
    lastInputAt: timestamp("last_input_at", { withTimezone: true }),
  },
  (t) => [index("sessions_user_idx").on(t.userId, t.createdAt), index("sessions_host_state_idx").on(t.hostId, t.state)],
);
export type Session = typeof sessions.$inferSelect;

/** Settings of the whole installation, changed by administrators: one row. */
export const appSettings = pgTable(
  "app_settings",
  {
    id: boolean("id").primaryKey().default(true),
    vmNetwork: vmNetwork("vm_network").notNull().default("none"),
    updatedAt: timestamp("updated_at", { withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [check("app_settings_one_row", sql`${t.id}`)],
);

/**
 * A one-time ticket that opens a session's console (server/console): 256 random bits given to
 * the browser, stored only as a SHA-256 hash, bound to the user and the session, valid for 60 s.
 */
export const consoleTickets = pgTable(
  "console_tickets",
  {
    id: uuid("id").primaryKey().defaultRandom(),
    tokenHash: text("token_hash").notNull(),
    userId: uuid("user_id")
      .notNull()
      .references(() => users.id, { onDelete: "cascade" }),
    sessionId: uuid("session_id")
      .notNull()
      .references(() => sessions.id, { onDelete: "cascade" }),
    expiresAt: timestamp("expires_at", { withTimezone: true }).notNull(),
    usedAt: timestamp("used_at", { withTimezone: true }),
    createdAt: createdAt(),
  },
  (t) => [uniqueIndex("console_tickets_token_hash_idx").on(t.tokenHash), index("console_tickets_expires_idx").on(t.expiresAt)],
);

export const changeSetState = pgEnum("change_set_state", enums.changeSetState);
export const changeKind = pgEnum("change_kind", enums.changeKind);

/**
 * What a saved session changed (server/changes): one per saved session, made by the libguestfs
 * worker from the image the session started from and the image it became. Queued (pending) in
 * the same transaction that records the saved image, so a crash never loses it.
 */
export const changeSets = pgTable(
  "change_sets",
  {
    sessionId: uuid("session_id")
      .primaryKey()
      .references(() => sessions.id, { onDelete: "cascade" }),
    userId: uuid("user_id")
      .notNull()
      .references(() => users.id, { onDelete: "cascade" }),
    machineId: uuid("machine_id")
      .notNull()
      .references(() => machines.id, { onDelete: "cascade" }),
    baseImageId: uuid("base_image_id")
      .notNull()
      .references(() => images.id, { onDelete: "cascade" }),
    imageId: uuid("image_id")
      .notNull()
      .references(() => images.id, { onDelete: "cascade" }),
    state: changeSetState("state").notNull().default("pending"),
    /** When a worker took it; a claim this old was left by a crashed worker. */
    claimedAt: timestamp("claimed_at", { withTimezone: true }),
    /** The filesystems found, and whether each was compared (ImageDiff["filesystems"]). */
    filesystems: jsonb("filesystems").$type<{ device: string; type: string; compared: boolean; note?: string }[]>(),
    problem: text("problem"),
    createdAt: createdAt(),
    finishedAt: timestamp("finished_at", { withTimezone: true }),
  },
  (t) => [index("change_sets_state_idx").on(t.state, t.createdAt), index("change_sets_user_idx").on(t.userId)],
);
export type ChangeSet = typeof changeSets.$inferSelect;

/** One changed file, directory or symlink of a change set, with its state on both sides. */
export const fileChanges = pgTable(
  "file_changes",
  {
    id: uuid("id").primaryKey().defaultRandom(),
    sessionId: uuid("session_id")
      .notNull()
      .references(() => changeSets.sessionId, { onDelete: "cascade" }),
    filesystem: text("filesystem").notNull(),
    path: text("path").notNull(),
    change: changeKind("change").notNull(),
    aspects: text("aspects").array().notNull(),
    before: jsonb("before").$type<FileState>(),
    after: jsonb("after").$type<FileState>(),
  },
  (t) => [index("file_changes_session_idx").on(t.sessionId)],
);
export type FileChangeRow = typeof fileChanges.$inferSelect;

export const applyRequestState = pgEnum("apply_request_state", enums.applyRequestState);

/**
 * A request to apply a saved session's changes to one of the user's machines (server/apply-back),
 * carried out by that machine's agent, which reports what it did.
 */
export const applyRequests = pgTable(
  "apply_requests",
  {
    id: uuid("id").primaryKey().defaultRandom(),
    userId: uuid("user_id")
      .notNull()
      .references(() => users.id, { onDelete: "cascade" }),
    sessionId: uuid("session_id")
      .notNull()
      .references(() => changeSets.sessionId, { onDelete: "cascade" }),
    /** The machine whose agent applies it: the one the session came from, or another of the user's. */
    machineId: uuid("machine_id")
      .notNull()
      .references(() => machines.id, { onDelete: "cascade" }),
    /** Changes the user left out (file_changes ids). */
    excludedChangeIds: uuid("excluded_change_ids").array().notNull().default([]),
    state: applyRequestState("state").notNull().default("pending"),
    /** Made automatically because the machine applies automatically, rather than sent by hand. */
    automatic: boolean("automatic").notNull().default(false),
    /** The agent's report once it finished (ApplyReport), or why it failed or was declined. */
    report: jsonb("report").$type<TApplyReport>(),
    problem: text("problem"),
    createdAt: createdAt(),
    notifiedAt: timestamp("notified_at", { withTimezone: true }),
    startedAt: timestamp("started_at", { withTimezone: true }),
    finishedAt: timestamp("finished_at", { withTimezone: true }),
    /** When the agent reported that the person put the computer back (`apply --undo`), and what that restored. */
    undoneAt: timestamp("undone_at", { withTimezone: true }),
    undoCounts: jsonb("undo_counts").$type<TApplyUndoCounts>(),
  },
  (t) => [
    index("apply_requests_machine_state_idx").on(t.machineId, t.state),
    index("apply_requests_session_idx").on(t.sessionId),
    // One open request per session and machine, even for two clicks at once.
    uniqueIndex("apply_requests_one_open_idx")
      .on(t.sessionId, t.machineId)
      .where(sql`state in ('pending', 'notified', 'applying')`),
  ],
);
export type ApplyRequest = typeof applyRequests.$inferSelect;

export const jobState = pgEnum("job_state", enums.jobState);

/** One attempt's end, kept on its job for the administrator: when, and why. */
export interface JobFailure {
  attempt: number;
  at: string;
  reason: string;
}

/**
 * Every piece of long work (server/jobs): inspection, change listing, starting and finishing VMs,
 * sweeps. A process claims a row (FOR UPDATE SKIP LOCKED), beats its heartbeat while it works, and
 * writes only while `claim_token` is still its own. What the work means to a user is kept on the
 * domain's own rows (images, change_sets, sessions), written in the same guarded transactions.
 */
export const jobs = pgTable(
  "jobs",
  {
    id: uuid("id").primaryKey().defaultRandom(),
    kind: text("kind").notNull(),
    /** What the job is about (an image id, a session id): one open job per kind and key. */
    key: text("key").notNull(),
    payload: jsonb("payload").$type<unknown>().notNull(),
    state: jobState("state").notNull().default("queued"),
    attempts: integer("attempts").notNull().default(0),
    maxAttempts: integer("max_attempts").notNull(),
    /** Not before: the backoff after a failed attempt. */
    runAfter: timestamp("run_after", { withTimezone: true }).notNull().defaultNow(),
    /** The current claim; a process whose token is no longer here has lost the job. */
    claimToken: uuid("claim_token"),
    /** Which process holds the claim (host, pid), for the administrator. */
    claimedBy: text("claimed_by"),
    heartbeatAt: timestamp("heartbeat_at", { withTimezone: true }),
    failures: jsonb("failures").$type<JobFailure[]>().notNull().default([]),
    createdAt: createdAt(),
    finishedAt: timestamp("finished_at", { withTimezone: true }),
  },
  (t) => [
    uniqueIndex("jobs_one_open_per_key_idx").on(t.kind, t.key).where(sql`state in ('queued', 'running')`),
    index("jobs_claim_idx").on(t.kind, t.state, t.runAfter),
  ],
);
export type Job = typeof jobs.$inferSelect;
