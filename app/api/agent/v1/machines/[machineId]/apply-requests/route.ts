import { serveOpenApplyRequests } from "@/server/agent-api/serve-apply-requests";

export async function GET(req: Request, { params }: { params: Promise<{ machineId: string }> }) {
  return serveOpenApplyRequests(req, await params);
}
