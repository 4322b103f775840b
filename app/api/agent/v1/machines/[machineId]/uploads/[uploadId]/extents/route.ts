import { z } from "zod";
import { withAgent } from "@/server/agent-api/agent-route";
import { assertSameMachine } from "@/server/agent-api/authenticate-agent";
import { writeExtent } from "@/server/images/ingest-upload";
import { InvalidInputError } from "@/server/errors";
import { MAX_EXTENT_BYTES, ZExtentQuerySchema } from "@/server/wire/agent";

type Params = { params: Promise<{ machineId: string; uploadId: string }> };

export async function PUT(req: Request, { params }: Params) {
  return withAgent(req, async (agent) => {
    const { machineId, uploadId } = await params;
    assertSameMachine(agent, machineId);
    const extent = ZExtentQuerySchema.parse(Object.fromEntries(new URL(req.url).searchParams));
    if (Number(req.headers.get("content-length") ?? 0) > MAX_EXTENT_BYTES) {
      throw new InvalidInputError(`An extent carries at most ${MAX_EXTENT_BYTES} bytes.`);
    }
    const body = Buffer.from(await req.arrayBuffer());
    return Response.json(await writeExtent(agent, z.uuid().parse(uploadId), extent, body));
  });
}
