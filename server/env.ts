// The server's configuration: every environment variable, validated once with zod.
// A missing or wrong variable stops the process with one line that names it.
import { z } from "zod";

const minutes = (fallback: number) => z.coerce.number().int().positive().default(fallback);

const ZEnvSchema = z
  .object({
    NODE_ENV: z.enum(["development", "production", "test"]).default("development"),
    DATABASE_URL: z
      .string({ error: "is required (a postgres:// URL)" })
      .regex(/^postgres(ql)?:\/\//, "must be a postgres:// URL"),
    APP_URL: z.url({ error: "is required: the public origin users open, e.g. https://twinboot.example.com" }),
    AUTH_SECRET: z
      .string({ error: "is required: 32 or more random characters (openssl rand -base64 33)" })
      .min(32, "must be at least 32 characters"),
    DATA_ENCRYPTION_KEY: z
      .string({ error: "is required: 32 random bytes in base64 (openssl rand -base64 32)" })
      .refine((v) => Buffer.from(v, "base64").length === 32, "must be 32 bytes in base64 (openssl rand -base64 32)"),
    HOST: z.string().default("127.0.0.1"),
    PORT: z.coerce.number().int().min(1).max(65535).default(3000),
    TRUST_PROXY: z.stringbool().default(false),
    SESSION_IDLE_MINUTES: minutes(30),
    SESSION_MAX_HOURS: minutes(12),
    LOGIN_MAX_FAILURES: minutes(5),
    LOGIN_LOCKOUT_MINUTES: minutes(15),
    LOGIN_MAX_FAILURES_PER_IP: minutes(30),
    IMAGE_STORE_DIR: z.string().startsWith("/", "must be an absolute path").default("/var/lib/twinboot/images"),
    /**
     * The group the hypervisor hosts' QEMU runs in when it is not root (libvirt-qemu, or a test
     * host's user): machine folders are then group-writable for it, so VMs can read images and
     * write their session overlays. Unset: folders are root's alone (hosts log in as root).
     */
    IMAGE_STORE_GROUP: z.string().regex(/^[a-z_][a-z0-9_-]*$/, "must be a group name").optional(),
    UPLOAD_RESUME_MINUTES: minutes(60),
    /** Whether this process runs libguestfs work (inspection, change lists); a `twinboot worker` can do it instead. */
    INSPECTION_WORKER: z.stringbool().default(true),
    /**
     * A running job whose heartbeat is older than this was left by a process that stopped, and
     * another process takes it over. Heartbeats go every quarter of it.
     */
    JOB_STALE_SECONDS: z.coerce.number().int().min(4).max(3600).default(60),
    /** How long a finishing session's guest gets to power off after the ACPI request before it is destroyed. */
    VM_SHUTDOWN_SECONDS: z.coerce.number().int().min(0).max(3600).default(120),
  })
  .superRefine((env, ctx) => {
    const url = new URL(env.APP_URL);
    const local = ["localhost", "127.0.0.1", "[::1]"].includes(url.hostname);
    if (url.protocol !== "https:" && !local) {
      ctx.addIssue({
        code: "custom",
        path: ["APP_URL"],
        message: "must be https:// outside localhost (put TLS in front of Twinboot)",
      });
    }
  });

export type Env = z.infer<typeof ZEnvSchema>;

export class EnvError extends Error {}

let cached: Env | undefined;

/** The validated environment; throws EnvError naming the first bad variable. */
export function env(): Env {
  if (cached) return cached;
  const parsed = ZEnvSchema.safeParse(process.env);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    const name = issue.path.join(".");
    throw new EnvError(`Environment variable ${name} ${issue.message}`);
  }
  cached = parsed.data;
  return cached;
}

/** True when cookies must be Secure: the app is served over https. */
export function usesSecureCookies(): boolean {
  return new URL(env().APP_URL).protocol === "https:";
}
