// The signed-in user's own account: profile, password, second factor, sessions, activity.
import { TRPCError } from "@trpc/server";
import { z } from "zod";
import {
  getAccountOrThrow,
  listAccountSessions,
  listSecurityActivity,
} from "@/server/account/account-overview";
import { changePassword } from "@/server/account/change-password";
import {
  beginTotpSetup,
  confirmTotpSetup,
  disableTotp,
  regenerateRecoveryCodes,
} from "@/server/account/second-factor-settings";
import { revokeAllAuthSessions, revokeAuthSession } from "@/server/auth/auth-session";
import { env } from "@/server/env";
import { finishSessionsAfterSignOut } from "@/server/sessions/auto-finish";
import {
  ZChangePasswordRequestSchema,
  ZConfirmTotpRequestSchema,
  ZIdentityProofSchema,
  ZRevokeSessionRequestSchema,
} from "@/wire/account";
import { protectedProcedure, router } from "../init";

export const accountRouter = router({
  me: protectedProcedure.query(({ ctx }) => getAccountOrThrow(ctx.user.id)),

  sessions: protectedProcedure.query(({ ctx }) => listAccountSessions(ctx.user.id, ctx.user.sessionId)),

  activity: protectedProcedure.query(({ ctx }) => listSecurityActivity(ctx.user.id)),

  /** Ends this browser's session on the server; the page then clears the cookie. */
  signOut: protectedProcedure.mutation(async ({ ctx }) => {
    await revokeAuthSession(ctx.user.id, ctx.user.sessionId, ctx.meta, "sign_out");
    await finishSessionsAfterSignOut(ctx.user.id, { shutdownTimeoutMs: env().VM_SHUTDOWN_SECONDS * 1000 });
  }),

  revokeSession: protectedProcedure.input(ZRevokeSessionRequestSchema).mutation(async ({ ctx, input }) => {
    if (!(await revokeAuthSession(ctx.user.id, input.sessionId, ctx.meta, "session_revoked"))) {
      throw new TRPCError({ code: "NOT_FOUND", message: "That session has already ended." });
    }
    await finishSessionsAfterSignOut(ctx.user.id, { shutdownTimeoutMs: env().VM_SHUTDOWN_SECONDS * 1000 });
    return { endedCurrent: input.sessionId === ctx.user.sessionId };
  }),

  signOutEverywhere: protectedProcedure.mutation(async ({ ctx }) => {
    const ended = await revokeAllAuthSessions(ctx.user.id, ctx.meta);
    await finishSessionsAfterSignOut(ctx.user.id, { shutdownTimeoutMs: env().VM_SHUTDOWN_SECONDS * 1000 });
    return { ended };
  }),

  changePassword: protectedProcedure
    .input(ZChangePasswordRequestSchema)
    .mutation(({ ctx, input }) =>
      changePassword(
        { userId: ctx.user.id, email: ctx.user.email, currentSessionId: ctx.user.sessionId, ...input },
        ctx.meta,
      ),
    ),

  beginTotpSetup: protectedProcedure
    .input(z.object({ proof: ZIdentityProofSchema }))
    .mutation(({ ctx, input }) => beginTotpSetup(ctx.user, input.proof, ctx.meta)),

  confirmTotpSetup: protectedProcedure
    .input(ZConfirmTotpRequestSchema)
    .mutation(async ({ ctx, input }) => ({ recoveryCodes: await confirmTotpSetup(ctx.user.id, input.code, ctx.meta) })),

  disableTotp: protectedProcedure
    .input(z.object({ proof: ZIdentityProofSchema }))
    .mutation(({ ctx, input }) => disableTotp(ctx.user.id, input.proof, ctx.meta)),

  regenerateRecoveryCodes: protectedProcedure
    .input(z.object({ proof: ZIdentityProofSchema }))
    .mutation(async ({ ctx, input }) => ({
      recoveryCodes: await regenerateRecoveryCodes(ctx.user.id, input.proof, ctx.meta),
    })),
});
