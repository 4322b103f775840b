// The agent API's one error path: domain errors and bad input become JSON `{ error }` with a
// status and a sentence; anything unexpected is logged and answered with a generic 500.
import { ZodError } from "zod";
import {
  ConflictError,
  DomainError,
  ForbiddenError,
  InvalidInputError,
  NotAuthenticatedError,
  NotFoundError,
  RateLimitedError,
} from "@/server/errors";
import type { AgentMachine } from "@/wire/identity";
import { authenticateAgent } from "./authenticate-agent";

const STATUS: [new (...args: never[]) => DomainError, number][] = [
  [NotAuthenticatedError, 401],
  [ForbiddenError, 403],
  [NotFoundError, 404],
  [ConflictError, 409],
  [InvalidInputError, 400],
  [RateLimitedError, 429],
];

export function agentErrorResponse(error: unknown): Response {
  if (error instanceof ZodError) {
    const issue = error.issues[0];
    const field = issue?.path.join(".");
    return Response.json({ error: `${field ? `${field}: ` : ""}${issue?.message ?? "invalid request"}` }, { status: 400 });
  }
  if (error instanceof DomainError) {
    const status = STATUS.find(([kind]) => error instanceof kind)?.[1] ?? 500;
    return Response.json({ error: error.message }, { status });
  }
  // Unhandled errors are not user-facing, so we don't expose the actual error.
  console.error("agent API request failed:", error);
  return Response.json({ error: "The server failed to handle this request; it will be retried." }, { status: 500 });
}

/** Runs a handler for an authenticated agent, with the API's error handling. */
export async function withAgent(req: Request, handle: (agent: AgentMachine) => Promise<Response>): Promise<Response> {
  try {
    return await handle(await authenticateAgent(req.headers));
  } catch (error) {
    return agentErrorResponse(error);
  }
}
