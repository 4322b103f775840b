// The shape of a session's changes, as the server records them and the app and the agent read
// them; and the rule that hides system noise (logs, caches, temporary files) in the list.
import { z } from "zod";
import { changeKind } from "@/wire/enums";

export const fileType = ["file", "directory", "symlink", "other"] as const;
export type FileType = (typeof fileType)[number];
/** What about a file that is on both sides changed. */
export const changedAspect = ["content", "type", "target", "mode", "owner"] as const;
export type ChangedAspect = (typeof changedAspect)[number];
export type { ChangeKind } from "@/wire/enums";

/** A file as it is on one side: permission bits, owner, size and sha256 (files), target (symlinks). */
export const ZFileStateSchema = z.object({
  type: z.enum(fileType),
  mode: z.number().int().min(0).max(0o7777),
  uid: z.number().int().min(0),
  gid: z.number().int().min(0),
  size: z.number().int().min(0).nullable(),
  mtime: z.iso.datetime(),
  sha256: z.string().regex(/^[0-9a-f]{64}$/).nullable(),
  target: z.string().nullable(),
});
export type FileState = z.infer<typeof ZFileStateSchema>;

export const ZFileChangeSchema = z.object({
  filesystem: z.string(),
  path: z.string(),
  change: z.enum(changeKind),
  aspects: z.array(z.enum(changedAspect)),
  before: ZFileStateSchema.nullable(),
  after: ZFileStateSchema.nullable(),
});

/**
 * System noise: changes a user rarely means to bring home, hidden in the list by default (and
 * shown, with this rule, on request). Each is a path prefix or a file-name suffix.
 */
export const NOISE_RULE = {
  prefixes: [
    "/var/log/",
    "/var/cache/",
    "/var/tmp/",
    "/tmp/",
    "/var/lib/systemd/random-seed",
    // What systemd keeps by itself across boots: when each persistent timer last ran, the clock
    // timesyncd last set, the backlight's brightness and the radios' state.
    "/var/lib/systemd/timers/",
    "/var/lib/systemd/timesync/",
    "/var/lib/systemd/backlight/",
    "/var/lib/systemd/rfkill/",
    "/root/.cache/",
    "/root/.ash_history",
    "/root/.bash_history",
    "/Windows/Temp/",
    "/Windows/Prefetch/",
    "/Windows/Logs/",
    "/pagefile.sys",
    "/hiberfil.sys",
    "/swapfile",
    "/$Recycle.Bin/",
  ],
  suffixes: [".log", ".tmp", "~"],
} as const;

export function isNoise(filePath: string): boolean {
  return NOISE_RULE.prefixes.some((p) => filePath === p.replace(/\/$/, "") || filePath.startsWith(p)) || NOISE_RULE.suffixes.some((s) => filePath.endsWith(s));
}

/** The rule in words, shown beside the filter. */
export function describeNoiseRule(): string {
  return `paths under ${NOISE_RULE.prefixes.join(", ")}, and names ending in ${NOISE_RULE.suffixes.join(", ")}`;
}

/**
 * Where a changed path is on the PC: paths are recorded within their filesystem, which the PC
 * mounts at `mountPoint` (its fstab; unknown: the path as recorded).
 */
export function pathOnPc(mountPoint: string | null | undefined, filePath: string): string {
  return !mountPoint || mountPoint === "/" ? filePath : `${mountPoint.replace(/\/+$/, "")}${filePath}`;
}
