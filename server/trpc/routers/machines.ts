// The user's machines. Each procedure passes ctx.user.id down, and every query filters on it.
import {
  createMachine,
  deleteMachine,
  getMachineOrThrow,
  issueEnrollmentToken,
  listMachines,
  renameMachine,
  setApplyBackMode,
} from "@/server/machines/machines";
import {
  ZCreateMachineRequestSchema,
  ZDeleteMachineRequestSchema,
  ZMachineIdSchema,
  ZRenameMachineRequestSchema,
  ZSetApplyBackModeRequestSchema,
} from "@/wire/machines";
import { protectedProcedure, router } from "../init";

export const machinesRouter = router({
  list: protectedProcedure.query(({ ctx }) => listMachines(ctx.user.id)),

  get: protectedProcedure.input(ZMachineIdSchema).query(({ ctx, input }) => getMachineOrThrow(ctx.user.id, input.machineId)),

  create: protectedProcedure
    .input(ZCreateMachineRequestSchema)
    .mutation(({ ctx, input }) => createMachine({ ownerId: ctx.user.id, name: input.name }, ctx.meta)),

  rename: protectedProcedure
    .input(ZRenameMachineRequestSchema)
    .mutation(({ ctx, input }) => renameMachine(ctx.user.id, input.machineId, input.name, ctx.meta)),

  setApplyBackMode: protectedProcedure
    .input(ZSetApplyBackModeRequestSchema)
    .mutation(({ ctx, input }) => setApplyBackMode(ctx.user.id, input.machineId, input.mode, ctx.meta, input.proof)),

  issueEnrollmentToken: protectedProcedure
    .input(ZMachineIdSchema)
    .mutation(({ ctx, input }) => issueEnrollmentToken(ctx.user.id, input.machineId, ctx.meta)),

  delete: protectedProcedure
    .input(ZDeleteMachineRequestSchema)
    .mutation(({ ctx, input }) => deleteMachine(ctx.user.id, input.machineId, input.proof, ctx.meta)),
});
