// PUT …/machines/:machineId/uploads/:uploadId/extents — an agent's extent stream.
//
// Served by the server process itself, ahead of Next.js: the body is a long binary stream read as
// it arrives (with backpressure into the NBD writes), which a route handler would wrap in web
// streams for nothing. Answers like every other agent API route: JSON `{ error }` or the upload state.
import type { IncomingMessage, ServerResponse } from "node:http";
import { z } from "zod";
import { receiveExtents } from "@/server/images/ingest-upload";
import { AGENT_API_PREFIX } from "@/wire/agent";
import { agentErrorResponse } from "./agent-route";
import { assertSameMachine, authenticateAgent } from "./authenticate-agent";

const PATH = new RegExp(`^${AGENT_API_PREFIX}/machines/([^/?]+)/uploads/([^/?]+)/extents(?:\\?.*)?$`);

function requestHeaders(req: IncomingMessage): Headers {
  const headers = new Headers();
  for (const [name, value] of Object.entries(req.headers)) {
    if (typeof value === "string") headers.set(name, value);
  }
  return headers;
}

async function send(req: IncomingMessage, res: ServerResponse, response: Response) {
  const body = await response.text();
  // An answer given before the body was read in full (an error mid-stream) ends the connection,
  // so the rest of the stream is not read for nothing.
  const unread = !req.readableEnded;
  res.writeHead(response.status, {
    "content-type": "application/json",
    "content-length": Buffer.byteLength(body),
    ...(unread ? { connection: "close" } : {}),
  });
  res.end(body);
}

/** Handles the request if it is an extent stream; returns false for anything else. */
export function routeExtentStream(req: IncomingMessage, res: ServerResponse): boolean {
  const match = req.method === "PUT" ? PATH.exec(req.url ?? "") : null;
  if (!match) return false;
  const [, machineId = "", uploadId = ""] = match;
  void (async () => {
    let response: Response;
    try {
      const agent = await authenticateAgent(requestHeaders(req));
      assertSameMachine(agent, machineId);
      response = Response.json(await receiveExtents(agent, z.uuid().parse(uploadId), req));
    } catch (error) {
      // The agent went away mid-stream: what arrived is checkpointed, and nobody waits for an answer.
      if (req.destroyed && !req.complete) return;
      response = agentErrorResponse(error);
    }
    if (!res.destroyed) await send(req, res, response);
  })();
  return true;
}
