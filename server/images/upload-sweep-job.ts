// Uploads abandoned by their agent (or by a crash) leave no partial file behind: every server
// queues this sweep at start and every ten minutes; one open sweep at a time across all of them.
import { z } from "zod";
import { defineJob } from "@/server/jobs/define-job";
import { abandonStaleUploads } from "./ingest-upload";

export const sweepUploadsJob = defineJob({
  name: "sweep-uploads",
  schema: z.object({}),
  key: () => "all",
  deadlineMs: 10 * 60_000,
  attempts: 1,
  concurrency: 1,
  async handle() {
    const removed = await abandonStaleUploads();
    if (removed > 0) console.log(`Removed ${removed} abandoned upload(s).`);
  },
});

export const SWEEP_UPLOADS_EVERY_MS = 10 * 60_000;
