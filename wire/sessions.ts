// What the app sends to start and finish sessions.
import { z } from "zod";
import { finishMode, vmType } from "@/wire/enums";
import { ZVmFirmwareSchema } from "@/wire/firmware";

export const ZSessionIdSchema = z.object({ sessionId: z.uuid("That is not a session id.") });
export const ZStartSessionSchema = z.object({
  imageId: z.uuid("That is not an image id."),
  vmType: z.enum(vmType, { message: "The VM type is compatible or fast." }).default("compatible"),
  /** Left out: as found on the disk (wire/firmware.ts presetFirmware). */
  firmware: ZVmFirmwareSchema.optional(),
});
export const ZFinishSessionSchema = ZSessionIdSchema.extend({
  mode: z.enum(finishMode, { message: "Finish as incremental, independent or discard." }),
});

/** The idle timeouts a user can choose, in minutes; null is "never". */
export const IDLE_TIMEOUT_CHOICES = [15, 30, 60, 120, 240, 480] as const;
export const ZSessionPreferencesSchema = z.object({
  idleTimeoutMinutes: z
    .union(IDLE_TIMEOUT_CHOICES.map((m) => z.literal(m)), { message: `The idle timeout is one of ${IDLE_TIMEOUT_CHOICES.join(", ")} minutes, or never.` })
    .nullable(),
  defaultFinishMode: z.enum(finishMode, { message: "The default is incremental, independent or discard." }),
});
export type TSessionPreferences = z.infer<typeof ZSessionPreferencesSchema>;
