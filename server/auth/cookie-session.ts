// The signed-in user behind a request's Cookie header, for requests that do not go through
// Next.js (the console's WebSocket upgrade): the Auth.js session cookie decrypted as Auth.js
// does, then the server-side session it names checked as on every other request.
import { decode } from "@auth/core/jwt";
import { parse } from "cookie";
import { env } from "@/server/env";
import { touchAuthSession, type ActiveSessionUser } from "./auth-session";
import { cookieName } from "./cookie-names";

export async function sessionUserFromCookieHeader(header: string | undefined): Promise<ActiveSessionUser | null> {
  if (!header) return null;
  // The same parser as Auth.js's own (jshttp/cookie): a malformed value is kept as it is, never thrown.
  const cookies = parse(header);
  const name = cookieName("session");
  // Auth.js splits a large token into NAME.0, NAME.1, …
  const chunks = Object.keys(cookies)
    .filter((k) => k.startsWith(`${name}.`))
    .sort((a, b) => Number(a.slice(name.length + 1)) - Number(b.slice(name.length + 1)));
  const token = cookies[name] ?? (chunks.length > 0 ? chunks.map((k) => cookies[k]).join("") : undefined);
  if (!token) return null;
  try {
    const claims = await decode({ token, secret: env().AUTH_SECRET, salt: name });
    return typeof claims?.sid === "string" ? await touchAuthSession(claims.sid) : null;
  } catch {
    return null; // not a token of ours, or from before a secret change
  }
}
