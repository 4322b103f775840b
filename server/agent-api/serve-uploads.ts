// The agent's uploads (…/machines/:machineId/uploads): create one, ask how far it got, finalize it
// into an image. The extent stream itself is served ahead of Next.js (extent-stream-route.ts).
import { z } from "zod";
import { createUpload, finalizeUpload, getUploadState } from "@/server/images/ingest-upload";
import { ZCreateUploadRequestSchema, type TImageSummary } from "@/wire/agent";
import { withAgent } from "./agent-route";
import { assertSameMachine } from "./authenticate-agent";

type UploadParams = { machineId: string; uploadId: string };

/** POST …/uploads */
export function serveCreateUpload(req: Request, { machineId }: { machineId: string }): Promise<Response> {
  return withAgent(req, async (agent) => {
    assertSameMachine(agent, machineId);
    const request = ZCreateUploadRequestSchema.parse(await req.json().catch(() => ({})));
    return Response.json(await createUpload(agent, request), { status: 201 });
  });
}

/** GET …/uploads/:uploadId */
export function serveUploadState(req: Request, { machineId, uploadId }: UploadParams): Promise<Response> {
  return withAgent(req, async (agent) => {
    assertSameMachine(agent, machineId);
    return Response.json(await getUploadState(agent, z.uuid().parse(uploadId)));
  });
}

/** POST …/uploads/:uploadId/finalize */
export function serveFinalizeUpload(req: Request, { machineId, uploadId }: UploadParams): Promise<Response> {
  return withAgent(req, async (agent) => {
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
