// The agent's side of apply-back requests (…/machines/:machineId/apply-requests): the open ones,
// one request's manifest, its progress reports, and its new files as a tar stream. The event
// stream that announces them is apply-request-events.ts.
import { Readable } from "node:stream";
import { z } from "zod";
import { contentSourceFor, manifestFor, openRequestsFor, recordProgress } from "@/server/apply-back/agent-requests";
import { changeContentStream } from "@/server/apply-back/change-content";
import { APPLY_CONTENT_TYPE, ZApplyContentRequestSchema, ZApplyProgressSchema } from "@/wire/apply-back";
import { withAgent } from "./agent-route";
import { assertSameMachine } from "./authenticate-agent";

type RequestParams = { machineId: string; requestId: string };

/** GET …/apply-requests */
export function serveOpenApplyRequests(req: Request, { machineId }: { machineId: string }): Promise<Response> {
  return withAgent(req, async (agent) => {
    assertSameMachine(agent, machineId);
    return Response.json({ requests: await openRequestsFor(agent) });
  });
}

/** GET …/apply-requests/:requestId — the request and every change it brings (the manifest). */
export function serveApplyManifest(req: Request, { machineId, requestId }: RequestParams): Promise<Response> {
  return withAgent(req, async (agent) => {
    assertSameMachine(agent, machineId);
    return Response.json(await manifestFor(agent, z.uuid().parse(requestId)));
  });
}

/** POST …/apply-requests/:requestId — the agent reports: applying, declined, or finished with its report. */
export function serveApplyProgress(req: Request, { machineId, requestId }: RequestParams): Promise<Response> {
  return withAgent(req, async (agent) => {
    assertSameMachine(agent, machineId);
    await recordProgress(agent, z.uuid().parse(requestId), ZApplyProgressSchema.parse(await req.json().catch(() => null)));
    return Response.json({ ok: true });
  });
}

/** POST …/apply-requests/:requestId/content — the new files as a tar stream (the body says which, for a resumed download). */
export function serveApplyContent(req: Request, { machineId, requestId }: RequestParams): Promise<Response> {
  return withAgent(req, async (agent) => {
    assertSameMachine(agent, machineId);
    const { changeIds } = ZApplyContentRequestSchema.parse(await req.json().catch(() => null));
    const { imageFile, files } = await contentSourceFor(agent, z.uuid().parse(requestId), changeIds);
    const pack = changeContentStream(imageFile, files);
    return new Response(Readable.toWeb(Readable.from(pack)) as ReadableStream<Uint8Array>, {
      headers: { "content-type": APPLY_CONTENT_TYPE, "cache-control": "no-store" },
    });
  });
}
