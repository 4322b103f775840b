// Administration, for users with the admin role.
import { listUsers } from "@/server/users/users";
import { adminProcedure, router } from "../init";

export const adminRouter = router({
  users: adminProcedure.query(() => listUsers()),
});
