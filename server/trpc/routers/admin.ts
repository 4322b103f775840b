// Administration, for users with the admin role: users, and the hypervisor pool.
import { z } from "zod";
import { addHost, hostState, listHosts, removeHost, setHostMode } from "@/server/pool/hosts";
import { listUsers } from "@/server/users/users";
import { ZAddHostSchema, ZHostNameSchema } from "@/server/wire/pool";
import { adminProcedure, router } from "../init";

export const adminRouter = router({
  users: adminProcedure.query(() => listUsers()),
  hosts: adminProcedure.query(async () => (await listHosts()).map((host) => ({ ...host, state: hostState(host) }))),
  addHost: adminProcedure
    .input(ZAddHostSchema)
    .mutation(({ ctx, input }) => addHost(input, { userId: ctx.user.id, meta: ctx.meta })),
  setHostMode: adminProcedure
    .input(z.object({ name: ZHostNameSchema, mode: z.enum(["enabled", "draining"]) }))
    .mutation(({ ctx, input }) => setHostMode(input.name, input.mode, { userId: ctx.user.id, meta: ctx.meta })),
  removeHost: adminProcedure
    .input(z.object({ name: ZHostNameSchema }))
    .mutation(({ ctx, input }) => removeHost(input.name, { userId: ctx.user.id, meta: ctx.meta })),
});
