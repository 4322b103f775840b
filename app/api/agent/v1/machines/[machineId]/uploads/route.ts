import { withAgent } from "@/server/agent-api/agent-route";
import { assertSameMachine } from "@/server/agent-api/authenticate-agent";
import { createUpload } from "@/server/images/ingest-upload";
import { ZCreateUploadRequestSchema } from "@/wire/agent";

export async function POST(req: Request, { params }: { params: Promise<{ machineId: string }> }) {
  return withAgent(req, async (agent) => {
    assertSameMachine(agent, (await params).machineId);
    const request = ZCreateUploadRequestSchema.parse(await req.json().catch(() => ({})));
    return Response.json(await createUpload(agent, request), { status: 201 });
  });
}
