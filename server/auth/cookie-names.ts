// The names of the sign-in cookies, shared by the Auth.js configuration and the WebSocket relay
// (which reads the session cookie outside Next.js).
import { usesSecureCookies } from "@/server/env";

/** Under https, __Host- cookies: Secure, Path=/, no Domain, so no sibling site can set or shadow them. */
export function cookieName(base: "session" | "csrf" | "callback"): string {
  return `${usesSecureCookies() ? "__Host-" : ""}twinboot.${base}`;
}
