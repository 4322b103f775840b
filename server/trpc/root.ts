// The app's tRPC router: one sub-router per area.
import { createCallerFactory, router } from "./init";
import { accountRouter } from "./routers/account";
import { adminRouter } from "./routers/admin";
import { machinesRouter } from "./routers/machines";

export const appRouter = router({
  account: accountRouter,
  machines: machinesRouter,
  admin: adminRouter,
});

export type AppRouter = typeof appRouter;

export const createCaller = createCallerFactory(appRouter);
