import { Readable } from "node:stream";
import { z } from "zod";
import { withAgent } from "@/server/agent-api/agent-route";
import { assertSameMachine } from "@/server/agent-api/authenticate-agent";
import { restoreStream } from "@/server/images/restore-stream";
import { EXTENT_STREAM_CONTENT_TYPE } from "@/wire/extent-stream";

export const dynamic = "force-dynamic";

/** A whole image as an extent stream, for `twinboot-agent restore`; the disk's size in a header. */
export async function GET(req: Request, { params }: { params: Promise<{ machineId: string; imageId: string }> }) {
  return withAgent(req, async (agent) => {
    const { machineId, imageId } = await params;
    assertSameMachine(agent, machineId);
    const { size, stream } = await restoreStream(agent, z.uuid("That is not an image id.").parse(imageId));
    return new Response(Readable.toWeb(stream) as ReadableStream<Uint8Array>, {
      headers: { "content-type": EXTENT_STREAM_CONTENT_TYPE, "x-disk-bytes": String(size), "cache-control": "no-store" },
    });
  });
}
