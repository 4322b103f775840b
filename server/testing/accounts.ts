// Test helpers that make real users and signed-in sessions in the test database.
import { randomUUID } from "node:crypto";
import { encode } from "@auth/core/jwt";
import type { UserRole } from "@/db/schema";
import { cookieName } from "@/server/auth/cookie-names";
import { signInWithPassword } from "@/server/auth/sign-in";
import type { SessionUser } from "@/wire/identity";
import { createTRPCContext } from "@/server/trpc/init";
import { createCaller } from "@/server/trpc/root";
import { createUser } from "@/server/users/users";
import { env } from "@/server/env";

export const TEST_PASSWORD = "plum lantern quietly hums";

/** A browser-like request: our own Origin, a client address, a user agent. */
export function requestHeaders(ip = "192.0.2.10", origin = env().APP_URL): Headers {
  return new Headers({ origin, "x-twinboot-client-ip": ip, "user-agent": "vitest" });
}

export async function createTestUser(role: UserRole = "user") {
  const email = `${role}-${randomUUID().slice(0, 8)}@test.twinboot`;
  const user = await createUser({ email, password: TEST_PASSWORD, role });
  return { ...user, password: TEST_PASSWORD };
}

/** Signs in through the real sign-in path and returns a tRPC caller for that session. */
export async function signedInCaller(account: { email: string; password: string }, ip = "192.0.2.10") {
  const result = await signInWithPassword({ email: account.email, password: account.password }, { ip, userAgent: "vitest" });
  if (!result.ok) throw new Error(`test sign-in failed: ${result.failure.kind}`);
  const sessionUser: SessionUser = { ...result.user, sessionId: result.sessionId };
  const caller = createCaller(createTRPCContext({ headers: requestHeaders(ip), user: sessionUser }));
  return { caller, sessionUser };
}

/**
 * Signs in through the real sign-in path and returns the Cookie header a browser would then send:
 * the Auth.js session cookie, encrypted with AUTH_SECRET as Auth.js does. For requests that do
 * not come from a browser page (WebSocket clients in tests and benchmarks).
 */
export async function signedInCookie(account: { email: string; password: string }): Promise<{ cookie: string; sessionId: string }> {
  const result = await signInWithPassword({ email: account.email, password: account.password }, { ip: "127.0.0.1", userAgent: "vitest" });
  if (!result.ok) throw new Error(`test sign-in failed: ${result.failure.kind}`);
  const name = cookieName("session");
  const token = await encode({ token: { sub: result.user.id, sid: result.sessionId, email: result.user.email }, secret: env().AUTH_SECRET, salt: name });
  return { cookie: `${name}=${token}`, sessionId: result.sessionId };
}
