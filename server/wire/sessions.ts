// What the app sends to start and finish sessions.
import { z } from "zod";
import { finishMode, vmType } from "@/db/schema-enums";

export const ZSessionIdSchema = z.object({ sessionId: z.uuid("That is not a session id.") });
export const ZStartSessionSchema = z.object({
  imageId: z.uuid("That is not an image id."),
  vmType: z.enum(vmType, { message: "The VM type is compatible or fast." }).default("compatible"),
});
export const ZFinishSessionSchema = ZSessionIdSchema.extend({
  mode: z.enum(finishMode, { message: "Finish as incremental, independent or discard." }),
});
