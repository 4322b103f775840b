// POST /api/agent/v1/enroll: the one-time enrollment token for a machine credential.
import { requestMeta } from "@/server/request-meta";
import { ZEnrollRequestSchema } from "@/wire/agent";
import { agentErrorResponse } from "./agent-route";
import { enrollAgent } from "./enroll-agent";

export async function serveEnrollment(req: Request): Promise<Response> {
  try {
    const { token } = ZEnrollRequestSchema.parse(await req.json().catch(() => ({})));
    return Response.json(await enrollAgent(token, requestMeta(req.headers)));
  } catch (error) {
    return agentErrorResponse(error);
  }
}
