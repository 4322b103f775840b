// Wire schemas for machines.
import { z } from "zod";
import { applyBackMode } from "@/wire/enums";
import { ZIdentityProofSchema } from "./account";

export const ZMachineNameSchema = z
  .string()
  .trim()
  .min(1, "Give the machine a name.")
  .max(64, "Use at most 64 characters for the name.")
  .regex(/^[^\p{Cc}]+$/u, "The name can't contain control characters.");

export const ZMachineIdSchema = z.object({ machineId: z.uuid("That is not a machine id.") });

export const ZCreateMachineRequestSchema = z.object({ name: ZMachineNameSchema });
export const ZRenameMachineRequestSchema = ZMachineIdSchema.extend({ name: ZMachineNameSchema });
export const ZSetApplyBackModeRequestSchema = ZMachineIdSchema.extend({
  mode: z.enum(applyBackMode, "Choose auto, prompt or manual."),
  /** Needed to turn automatic apply-back on: from then on every saved session is sent home unasked. */
  proof: ZIdentityProofSchema.optional(),
});
export const ZDeleteMachineRequestSchema = ZMachineIdSchema.extend({ proof: ZIdentityProofSchema });
