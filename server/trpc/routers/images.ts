// Images on a machine's timeline.
import { z } from "zod";
import { getImageOrThrow, listMachineImages } from "@/server/images/timeline";
import { ZMachineIdSchema } from "@/wire/machines";
import { protectedProcedure, router } from "../init";

export const imagesRouter = router({
  list: protectedProcedure.input(ZMachineIdSchema).query(({ ctx, input }) => listMachineImages(ctx.user.id, input.machineId)),

  get: protectedProcedure
    .input(z.object({ imageId: z.uuid("That is not an image id.") }))
    .query(({ ctx, input }) => getImageOrThrow(ctx.user.id, input.imageId)),
});
