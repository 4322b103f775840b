import { drizzle } from "drizzle-orm/postgres-js";
import { migrate } from "drizzle-orm/postgres-js/migrator";
import postgres from "postgres";
import { afterAll, describe, expect, it } from "vitest";
import { migrationsFolder } from "./migrate";

// A database of its own, created empty for this test and dropped after it.
const name = `twinboot_migrate_${process.pid}`;
const adminUrl = new URL(process.env.DATABASE_URL!);
const admin = postgres(adminUrl.toString(), { max: 1, onnotice: () => {} });
const targetUrl = new URL(adminUrl);
targetUrl.pathname = `/${name}`;

afterAll(async () => {
  await admin.unsafe(`drop database if exists "${name}" with (force)`);
  await admin.end();
});

describe("migrations", () => {
  it("apply to an empty database, and again without change", async () => {
    await admin.unsafe(`drop database if exists "${name}" with (force)`);
    await admin.unsafe(`create database "${name}"`);
    const client = postgres(targetUrl.toString(), { max: 1, onnotice: () => {} });
    try {
      await migrate(drizzle(client), { migrationsFolder });
      await migrate(drizzle(client), { migrationsFolder });
      const tables = await client<{ table_name: string }[]>`
        select table_name from information_schema.tables where table_schema = 'public' order by table_name`;
      expect(tables.map((t) => t.table_name)).toEqual([
        "app_settings",
        "apply_requests",
        "audit_events",
        "auth_sessions",
        "change_sets",
        "console_tickets",
        "file_changes",
        "hypervisor_hosts",
        "image_uploads",
        "images",
        "jobs",
        "machines",
        "recovery_codes",
        "sessions",
        "users",
      ]);
      const [applied] = await client<{ n: number }[]>`select count(*)::int as n from drizzle.__drizzle_migrations`;
      expect(applied!.n).toBeGreaterThan(0);
    } finally {
      await client.end();
    }
  });
});
