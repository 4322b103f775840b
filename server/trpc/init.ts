// tRPC setup, in three parts: 1. the context, 2. initialisation with the error formatter,
// 3. the procedures every router builds on (public, protected, admin).
import { initTRPC, TRPCError } from "@trpc/server";
import superjson from "superjson";
import { z, ZodError } from "zod";
import type { SessionUser } from "@/wire/identity";
import { env } from "@/server/env";
import { INTERNAL_MESSAGE, isExpectedError, trpcCodeOf } from "@/server/error-map";
import { RateLimitedError } from "@/server/errors";
import { requestMeta, type RequestMeta } from "@/server/request-meta";
import { isSameOrigin } from "./same-origin";

// 1. Context ----------------------------------------------------------------------------------

export interface TRPCContext {
  user: SessionUser | null;
  meta: RequestMeta;
  /** Whether the request came from our own pages (Origin check against APP_URL). */
  sameOrigin: boolean;
}

export function createTRPCContext(opts: { headers: Headers; user: SessionUser | null }): TRPCContext {
  return {
    user: opts.user,
    meta: requestMeta(opts.headers),
    sameOrigin: isSameOrigin(opts.headers, env().APP_URL),
  };
}

// 2. Initialisation ---------------------------------------------------------------------------

function describeZodError(error: ZodError): string {
  const issue = error.issues[0];
  if (!issue) return "The request is not valid.";
  const field = issue.path.filter((p) => typeof p !== "number").join(".");
  return field ? `${field}: ${issue.message}` : issue.message;
}

const t = initTRPC.context<TRPCContext>().create({
  transformer: superjson,
  isDev: false,
  errorFormatter({ shape, error }) {
    const zodError = error.cause instanceof ZodError ? error.cause : null;
    // Unhandled errors are not user-facing, so we don't expose the actual error.
    const message =
      error.code === "INTERNAL_SERVER_ERROR" ? INTERNAL_MESSAGE : zodError ? describeZodError(zodError) : shape.message;
    return {
      message,
      code: shape.code,
      data: {
        code: shape.data.code,
        httpStatus: shape.data.httpStatus,
        path: shape.data.path,
        fieldErrors: zodError ? z.flattenError(zodError).fieldErrors : null,
        retryAt: error.cause instanceof RateLimitedError ? error.cause.retryAt.toISOString() : null,
      },
    };
  },
});

export const createCallerFactory = t.createCallerFactory;
export const router = t.router;

// 3. Procedures -------------------------------------------------------------------------------

/** Maps the domain's own errors to tRPC codes (server/error-map.ts); anything else stays an internal error. */
const domainErrors = t.middleware(async ({ next }) => {
  const result = await next();
  const cause = result.ok ? null : result.error.cause;
  if (isExpectedError(cause) && !(cause instanceof ZodError)) {
    throw new TRPCError({ code: trpcCodeOf(cause), message: cause.message, cause });
  }
  return result;
});

/** Mutations run in a route handler, which Next.js does not protect from CSRF: check Origin. */
const sameOriginMutations = t.middleware(({ ctx, type, next }) => {
  if (type === "mutation" && !ctx.sameOrigin) {
    throw new TRPCError({
      code: "FORBIDDEN",
      message: "This request did not come from Twinboot's own pages. Reload the page and try again.",
    });
  }
  return next();
});

export const publicProcedure = t.procedure.use(sameOriginMutations).use(domainErrors);

export const protectedProcedure = publicProcedure.use(({ ctx, next }) => {
  if (!ctx.user) {
    throw new TRPCError({ code: "UNAUTHORIZED", message: "You are signed out. Sign in again to continue." });
  }
  return next({ ctx: { ...ctx, user: ctx.user } });
});

export const adminProcedure = protectedProcedure.use(({ ctx, next }) => {
  if (ctx.user.role !== "admin") {
    throw new TRPCError({ code: "FORBIDDEN", message: "Only administrators can do this." });
  }
  return next();
});
