import { z } from "zod";
import { withAgent } from "@/server/agent-api/agent-route";
import { assertSameMachine } from "@/server/agent-api/authenticate-agent";
import { manifestFor, recordProgress } from "@/server/apply-back/agent-requests";
import { ZApplyProgressSchema } from "@/wire/apply-back";

type Params = { params: Promise<{ machineId: string; requestId: string }> };

/** The request and every change it brings (the manifest). */
export async function GET(req: Request, { params }: Params) {
  return withAgent(req, async (agent) => {
    const { machineId, requestId } = await params;
    assertSameMachine(agent, machineId);
    return Response.json(await manifestFor(agent, z.uuid().parse(requestId)));
  });
}

/** The agent reports: applying, declined, or finished with its report. */
export async function POST(req: Request, { params }: Params) {
  return withAgent(req, async (agent) => {
    const { machineId, requestId } = await params;
    assertSameMachine(agent, machineId);
    await recordProgress(agent, z.uuid().parse(requestId), ZApplyProgressSchema.parse(await req.json().catch(() => null)));
    return Response.json({ ok: true });
  });
}
