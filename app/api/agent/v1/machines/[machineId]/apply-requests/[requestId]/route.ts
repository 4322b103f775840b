import { serveApplyManifest, serveApplyProgress } from "@/server/agent-api/serve-apply-requests";

type Params = { params: Promise<{ machineId: string; requestId: string }> };

export async function GET(req: Request, { params }: Params) {
  return serveApplyManifest(req, await params);
}

export async function POST(req: Request, { params }: Params) {
  return serveApplyProgress(req, await params);
}
