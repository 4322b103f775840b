// The app's tRPC router: one sub-router per area.
import { createCallerFactory, router } from "./init";
import { accountRouter } from "./routers/account";
import { adminRouter } from "./routers/admin";
import { applyBackRouter } from "./routers/apply-back";
import { changesRouter } from "./routers/changes";
import { imagesRouter } from "./routers/images";
import { machinesRouter } from "./routers/machines";
import { sessionsRouter } from "./routers/sessions";

export const appRouter = router({
  account: accountRouter,
  machines: machinesRouter,
  images: imagesRouter,
  sessions: sessionsRouter,
  changes: changesRouter,
  applyBack: applyBackRouter,
  admin: adminRouter,
});

export type AppRouter = typeof appRouter;

export const createCaller = createCallerFactory(appRouter);
