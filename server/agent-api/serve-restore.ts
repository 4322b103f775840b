// GET …/machines/:machineId/images/:imageId/restore: a whole image as an extent stream, for
// `twinboot-agent restore`; the disk's size in a header.
import { Readable } from "node:stream";
import { z } from "zod";
import { restoreStream } from "@/server/images/restore-stream";
import { EXTENT_STREAM_CONTENT_TYPE } from "@/wire/extent-stream";
import { withAgent } from "./agent-route";
import { assertSameMachine } from "./authenticate-agent";

export function serveRestore(req: Request, { machineId, imageId }: { machineId: string; imageId: string }): Promise<Response> {
  return withAgent(req, async (agent) => {
    assertSameMachine(agent, machineId);
    const { size, stream } = await restoreStream(agent, z.uuid("That is not an image id.").parse(imageId));
    return new Response(Readable.toWeb(stream) as ReadableStream<Uint8Array>, {
      headers: { "content-type": EXTENT_STREAM_CONTENT_TYPE, "x-disk-bytes": String(size), "cache-control": "no-store" },
    });
  });
}
