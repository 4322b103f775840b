// The signed-in user of the current request, as the tRPC context and pages see it.
import type { SessionUser } from "@/wire/identity";
import { auth } from "./next-auth";

export async function currentSessionUser(): Promise<SessionUser | null> {
  const session = await auth();
  if (!session?.user?.id || !session.sessionId) return null;
  return { id: session.user.id, email: session.user.email, role: session.user.role, sessionId: session.sessionId };
}
