// Applies the SQL migrations under drizzle/ in order; safe to run again.
import path from "node:path";
import { migrate } from "drizzle-orm/postgres-js/migrator";
import { db } from "./client";

export const migrationsFolder = path.join(import.meta.dirname, "..", "drizzle");

export async function migrateDatabase(): Promise<void> {
  await migrate(db(), { migrationsFolder });
}
