// Auth.js (next-auth v5) configuration. Credentials sign-in runs server/auth/sign-in.ts; the
// cookie holds an encrypted JWT whose only claim of substance is the auth_sessions row id, checked
// against Postgres on every request so that sign-out, revocation and timeouts take effect at once.
import NextAuth, { CredentialsSignin, type DefaultSession } from "next-auth";
import Credentials from "next-auth/providers/credentials";
import type { UserRole } from "@/db/schema";
import { env, usesSecureCookies } from "@/server/env";
import { requestMeta } from "@/server/request-meta";
import { ZSignInRequestSchema } from "@/wire/account";
import { revokeAuthSession, touchAuthSession } from "./auth-session";
import { cookieName } from "./cookie-names";
import { signInWithPassword, type SignInFailure } from "./sign-in";

declare module "next-auth" {
  interface User {
    role?: UserRole;
    sessionId?: string;
  }
  interface Session {
    sessionId: string;
    user: { id: string; email: string; role: UserRole } & DefaultSession["user"];
  }
}

/**
 * Why a sign-in was refused, as the code Auth.js hands back to the page.
 * Codes travel in a URL, so they say no more than the page shows.
 */
export function signInErrorCode(failure: SignInFailure): string {
  switch (failure.kind) {
    case "locked":
    case "throttled":
      return `${failure.kind}.${failure.retryAt.getTime()}`;
    default:
      return failure.kind;
  }
}

class SignInRefused extends CredentialsSignin {
  constructor(code: string) {
    super();
    this.code = code;
  }
}

function cookieConfig() {
  const options = { httpOnly: true, sameSite: "lax" as const, path: "/", secure: usesSecureCookies() };
  return {
    sessionToken: { name: cookieName("session"), options },
    csrfToken: { name: cookieName("csrf"), options },
    callbackUrl: { name: cookieName("callback"), options },
  };
}

export const { handlers, auth, signIn, signOut } = NextAuth(() => ({
  secret: env().AUTH_SECRET,
  trustHost: true,
  useSecureCookies: usesSecureCookies(),
  cookies: cookieConfig(),
  session: { strategy: "jwt", maxAge: env().SESSION_MAX_HOURS * 3600 },
  pages: { signIn: "/signin", error: "/signin" },
  logger: {
    // A refused sign-in is an expected outcome (already in the audit log), not a server error.
    error(error) {
      if (error.name === "CredentialsSignin" || (error as { type?: string }).type === "CredentialsSignin") return;
      console.error(`[auth] ${error.name}: ${error.message}`);
    },
  },
  providers: [
    Credentials({
      credentials: { email: {}, password: {}, secondFactor: {} },
      async authorize(raw, request) {
        const parsed = ZSignInRequestSchema.safeParse(raw);
        if (!parsed.success) throw new SignInRefused("invalid_credentials");
        const result = await signInWithPassword(parsed.data, requestMeta(request.headers));
        if (!result.ok) throw new SignInRefused(signInErrorCode(result.failure));
        return { id: result.user.id, email: result.user.email, role: result.user.role, sessionId: result.sessionId };
      },
    }),
  ],
  callbacks: {
    async jwt({ token, user }) {
      if (user?.sessionId) {
        token.sid = user.sessionId;
        token.sub = user.id;
      }
      const sid = typeof token.sid === "string" ? token.sid : null;
      const active = sid ? await touchAuthSession(sid) : null;
      if (!active) return null;
      token.email = active.email;
      token.role = active.role;
      return token;
    },
    session({ session, token }) {
      session.sessionId = token.sid as string;
      session.user = { ...session.user, id: token.sub!, email: token.email!, role: token.role as UserRole };
      return session;
    },
  },
  events: {
    async signOut(message) {
      const token = "token" in message ? message.token : null;
      if (token?.sub && typeof token.sid === "string") await revokeAuthSession(token.sub, token.sid);
    },
  },
}));
