import { z } from "zod";
import { withAgent } from "@/server/agent-api/agent-route";
import { assertSameMachine } from "@/server/agent-api/authenticate-agent";
import { getUploadState } from "@/server/images/ingest-upload";

type Params = { params: Promise<{ machineId: string; uploadId: string }> };

export async function GET(req: Request, { params }: Params) {
  return withAgent(req, async (agent) => {
    const { machineId, uploadId } = await params;
    assertSameMachine(agent, machineId);
    return Response.json(await getUploadState(agent, z.uuid().parse(uploadId)));
  });
}
