import { Readable } from "node:stream";
import { z } from "zod";
import { withAgent } from "@/server/agent-api/agent-route";
import { assertSameMachine } from "@/server/agent-api/authenticate-agent";
import { contentSourceFor } from "@/server/apply-back/agent-requests";
import { changeContentStream } from "@/server/apply-back/change-content";
import { APPLY_CONTENT_TYPE, ZApplyContentRequestSchema } from "@/wire/apply-back";

export const dynamic = "force-dynamic";

/** The request's new files as a tar stream (POST: the body says which, for a resumed download). */
export async function POST(req: Request, { params }: { params: Promise<{ machineId: string; requestId: string }> }) {
  return withAgent(req, async (agent) => {
    const { machineId, requestId } = await params;
    assertSameMachine(agent, machineId);
    const { changeIds } = ZApplyContentRequestSchema.parse(await req.json().catch(() => null));
    const { imageFile, files } = await contentSourceFor(agent, z.uuid().parse(requestId), changeIds);
    const pack = changeContentStream(imageFile, files);
    return new Response(Readable.toWeb(Readable.from(pack)) as ReadableStream<Uint8Array>, {
      headers: { "content-type": APPLY_CONTENT_TYPE, "cache-control": "no-store" },
    });
  });
}
