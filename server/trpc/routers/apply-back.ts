// Sending a saved session's changes to one of the user's machines, and following what its agent
// did (server/apply-back). Scoped to the user.
import { listApplyRequests, requestApplyBack, sendApplyRequestAgain } from "@/server/apply-back/apply-requests";
import { ZRequestApplyBackSchema, ZSendApplyRequestAgainSchema } from "@/wire/apply-back";
import { ZSessionIdSchema } from "@/wire/sessions";
import { protectedProcedure, router } from "../init";

export const applyBackRouter = router({
  request: protectedProcedure.input(ZRequestApplyBackSchema).mutation(({ ctx, input }) => requestApplyBack(ctx.user.id, input, ctx.meta)),
  sendAgain: protectedProcedure.input(ZSendApplyRequestAgainSchema).mutation(({ ctx, input }) => sendApplyRequestAgain(ctx.user.id, input, ctx.meta)),
  list: protectedProcedure.input(ZSessionIdSchema).query(({ ctx, input }) => listApplyRequests(ctx.user.id, input.sessionId)),
});
