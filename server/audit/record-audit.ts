// The audit log: every sign-in, failed sign-in and security-setting change, with where it came from.
import { auditEvents, type AuditAction } from "@/db/schema";
import type { Database } from "@/db/client";
import type { RequestMeta } from "@/server/request-meta";

export interface AuditEntry {
  userId: string | null;
  action: AuditAction;
  meta?: RequestMeta;
  detail?: Record<string, unknown>;
  /** false when an administrator acted through the CLI. */
  byUser?: boolean;
}

type Executor = Pick<Database, "insert">;

export async function recordAudit(executor: Executor, entry: AuditEntry): Promise<void> {
  await executor.insert(auditEvents).values({
    userId: entry.userId,
    action: entry.action,
    ip: entry.meta?.ip ?? null,
    userAgent: entry.meta?.userAgent ?? null,
    detail: entry.detail ?? {},
    byUser: entry.byUser ?? true,
  });
}
