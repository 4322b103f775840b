import { agentErrorResponse } from "@/server/agent-api/agent-route";
import { enrollAgent } from "@/server/agent-api/enroll-agent";
import { requestMeta } from "@/server/request-meta";
import { ZEnrollRequestSchema } from "@/wire/agent";

export async function POST(req: Request) {
  try {
    const { token } = ZEnrollRequestSchema.parse(await req.json().catch(() => ({})));
    return Response.json(await enrollAgent(token, requestMeta(req.headers)));
  } catch (error) {
    return agentErrorResponse(error);
  }
}
