import { serveApplyRequestEvents } from "@/server/agent-api/apply-request-events";

export const dynamic = "force-dynamic";

export async function GET(req: Request, { params }: { params: Promise<{ machineId: string }> }) {
  return serveApplyRequestEvents(req, await params);
}
