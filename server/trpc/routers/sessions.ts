// VM sessions: start one from an image, follow it, finish it. Every call is scoped to the user.
import { issueConsoleTicket } from "@/server/console/tickets";
import { env } from "@/server/env";
import { finishSession, startSession } from "@/server/sessions/session-jobs";
import { getSessionPreferences, setSessionPreferences } from "@/server/sessions/session-preferences";
import { getSessionOrThrow, listSessions, usageByMonth } from "@/server/sessions/session-queries";
import { ZFinishSessionSchema, ZSessionIdSchema, ZSessionPreferencesSchema, ZStartSessionSchema } from "@/wire/sessions";
import { protectedProcedure, router } from "../init";

export const sessionsRouter = router({
  list: protectedProcedure.query(({ ctx }) => listSessions(ctx.user.id)),
  usage: protectedProcedure.query(({ ctx }) => usageByMonth(ctx.user.id)),
  preferences: protectedProcedure.query(({ ctx }) => getSessionPreferences(ctx.user.id)),
  setPreferences: protectedProcedure.input(ZSessionPreferencesSchema).mutation(({ ctx, input }) => setSessionPreferences(ctx.user.id, input)),
  get: protectedProcedure.input(ZSessionIdSchema).query(({ ctx, input }) => getSessionOrThrow(ctx.user.id, input.sessionId)),
  /** A one-time ticket (60 s) that opens this session's console: server/console/relay.ts. */
  consoleTicket: protectedProcedure.input(ZSessionIdSchema).mutation(({ ctx, input }) => issueConsoleTicket(ctx.user.id, input.sessionId)),
  start: protectedProcedure.input(ZStartSessionSchema).mutation(async ({ ctx, input }) => {
    const { session } = await startSession({ userId: ctx.user.id, imageId: input.imageId, vmType: input.vmType, firmware: input.firmware });
    return { sessionId: session.id };
  }),
  finish: protectedProcedure.input(ZFinishSessionSchema).mutation(async ({ ctx, input }) => {
    const { session } = await finishSession({
      userId: ctx.user.id,
      sessionId: input.sessionId,
      mode: input.mode,
      shutdownTimeoutMs: env().VM_SHUTDOWN_SECONDS * 1000,
    });
    return { sessionId: session.id, state: session.state };
  }),
});
