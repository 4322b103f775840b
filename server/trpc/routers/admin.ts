// Administration, for users with the admin role: users, the hypervisor pool, the VMs' network.
import { z } from "zod";
import { vmNetwork } from "@/wire/enums";
import { addHost, hostState, listHosts, removeHost, setHostMode } from "@/server/pool/hosts";
import { getVmNetwork, setVmNetwork } from "@/server/settings/vm-network";
import { listUsers } from "@/server/users/users";
import { ZAddHostSchema, ZHostNameSchema } from "@/wire/pool";
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
  vmNetwork: adminProcedure.query(() => getVmNetwork()),
  setVmNetwork: adminProcedure
    .input(z.object({ vmNetwork: z.enum(vmNetwork, { message: "The VM network is none or nat." }) }))
    .mutation(({ ctx, input }) => setVmNetwork(input.vmNetwork, { userId: ctx.user.id, meta: ctx.meta })),
});
