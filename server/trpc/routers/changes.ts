// What saved sessions changed, file by file (server/changes). Scoped to the user.
import { retryChangeListing } from "@/server/changes/change-set-job";
import { listChanges } from "@/server/changes/change-queries";
import { ZSessionIdSchema } from "@/wire/sessions";
import { protectedProcedure, router } from "../init";

export const changesRouter = router({
  list: protectedProcedure.input(ZSessionIdSchema).query(({ ctx, input }) => listChanges(ctx.user.id, input.sessionId)),

  /** Lists a failed change set again. */
  retry: protectedProcedure.input(ZSessionIdSchema).mutation(({ ctx, input }) => retryChangeListing(ctx.user.id, input.sessionId)),
});
