// The database client: one postgres.js pool per process, created on first use.
import { drizzle, type PostgresJsDatabase } from "drizzle-orm/postgres-js";
import postgres from "postgres";
import { env } from "@/server/env";
import * as schema from "./schema";

export type Database = PostgresJsDatabase<typeof schema>;

const globalForDb = globalThis as unknown as { twinbootSql?: postgres.Sql; twinbootDb?: Database };

/** The shared database handle (kept on globalThis so that dev reloads do not leak pools). */
export function db(): Database {
  if (!globalForDb.twinbootDb) {
    globalForDb.twinbootSql = postgres(env().DATABASE_URL, { max: 10, onnotice: () => {} });
    globalForDb.twinbootDb = drizzle(globalForDb.twinbootSql, { schema });
  }
  return globalForDb.twinbootDb;
}

/** The postgres.js client under db(), for what drizzle does not do (LISTEN). */
export function sqlClient(): postgres.Sql {
  db();
  return globalForDb.twinbootSql!;
}

/** Closes the pool; used on graceful shutdown and by the CLI. */
export async function closeDb(): Promise<void> {
  await globalForDb.twinbootSql?.end({ timeout: 5 });
  globalForDb.twinbootSql = undefined;
  globalForDb.twinbootDb = undefined;
}

/** The handle a transaction callback receives. */
export type Transaction = Parameters<Parameters<Database["transaction"]>[0]>[0];
