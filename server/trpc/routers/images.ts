// Images on a machine's timeline.
import { z } from "zod";
import { retryInspection } from "@/server/images/inspection-job";
import { getImageOrThrow, listMachineImages } from "@/server/images/timeline";
import { ZMachineIdSchema } from "@/wire/machines";
import { protectedProcedure, router } from "../init";

export const imagesRouter = router({
  list: protectedProcedure.input(ZMachineIdSchema).query(({ ctx, input }) => listMachineImages(ctx.user.id, input.machineId)),

  get: protectedProcedure
    .input(z.object({ imageId: z.uuid("That is not an image id.") }))
    .query(({ ctx, input }) => getImageOrThrow(ctx.user.id, input.imageId)),

  /** Inspects an image again after its inspection failed. */
  retryInspection: protectedProcedure
    .input(z.object({ imageId: z.uuid("That is not an image id.") }))
    .mutation(({ ctx, input }) => retryInspection(ctx.user.id, input.imageId)),
});
