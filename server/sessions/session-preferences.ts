// The user's session preferences (Settings): how long a VM may sit without console input, and
// how a VM is finished when they do not choose (idle timeout, signing out).
import { eq } from "drizzle-orm";
import { db } from "@/db/client";
import { users } from "@/db/schema";
import { NotFoundError } from "@/server/errors";
import type { TSessionPreferences } from "@/wire/sessions";

export async function getSessionPreferences(userId: string): Promise<TSessionPreferences> {
  const [row] = await db()
    .select({ idleTimeoutMinutes: users.idleTimeoutMinutes, defaultFinishMode: users.defaultFinishMode })
    .from(users)
    .where(eq(users.id, userId));
  if (!row) throw new NotFoundError("Your account no longer exists.");
  return row as TSessionPreferences;
}

export async function setSessionPreferences(userId: string, preferences: TSessionPreferences): Promise<TSessionPreferences> {
  const [row] = await db()
    .update(users)
    .set(preferences)
    .where(eq(users.id, userId))
    .returning({ idleTimeoutMinutes: users.idleTimeoutMinutes, defaultFinishMode: users.defaultFinishMode });
  if (!row) throw new NotFoundError("Your account no longer exists.");
  return row as TSessionPreferences;
}
