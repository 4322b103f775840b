import { withAgent } from "@/server/agent-api/agent-route";
import { assertSameMachine } from "@/server/agent-api/authenticate-agent";
import { openRequestsFor } from "@/server/apply-back/agent-requests";

export async function GET(req: Request, { params }: { params: Promise<{ machineId: string }> }) {
  return withAgent(req, async (agent) => {
    assertSameMachine(agent, (await params).machineId);
    return Response.json({ requests: await openRequestsFor(agent) });
  });
}
