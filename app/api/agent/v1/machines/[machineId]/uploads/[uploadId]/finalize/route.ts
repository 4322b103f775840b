import { z } from "zod";
import { withAgent } from "@/server/agent-api/agent-route";
import { assertSameMachine } from "@/server/agent-api/authenticate-agent";
import { finalizeUpload } from "@/server/images/ingest-upload";
import type { TImageSummary } from "@/wire/agent";

type Params = { params: Promise<{ machineId: string; uploadId: string }> };

export async function POST(req: Request, { params }: Params) {
  return withAgent(req, async (agent) => {
    const { machineId, uploadId } = await params;
    assertSameMachine(agent, machineId);
    const image = await finalizeUpload(agent, z.uuid().parse(uploadId));
    const summary: TImageSummary = {
      id: image.id,
      kind: image.kind,
      parentId: image.parentId,
      virtualSize: image.virtualSize,
      bytesStored: image.bytesStored,
      takenAt: image.takenAt,
    };
    return Response.json(summary);
  });
}
