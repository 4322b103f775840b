// The agent API's one error path (server/error-map.ts): domain errors and bad input become JSON
// `{ error }` with a status and a sentence; anything unexpected is logged and answered with a generic 500.
import { toHttpResponse } from "@/server/error-map";
import type { AgentMachine } from "@/wire/identity";
import { authenticateAgent } from "./authenticate-agent";

export function agentErrorResponse(error: unknown): Response {
  return toHttpResponse(error, {
    logAs: "agent API request failed",
    internalMessage: "The server failed to handle this request; it will be retried.",
  });
}

/** Runs a handler for an authenticated agent, with the API's error handling. */
export async function withAgent(req: Request, handle: (agent: AgentMachine) => Promise<Response>): Promise<Response> {
  try {
    return await handle(await authenticateAgent(req.headers));
  } catch (error) {
    return agentErrorResponse(error);
  }
}
