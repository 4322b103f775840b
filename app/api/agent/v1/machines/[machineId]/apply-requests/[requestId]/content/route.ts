import { serveApplyContent } from "@/server/agent-api/serve-apply-requests";

export const dynamic = "force-dynamic";

export async function POST(req: Request, { params }: { params: Promise<{ machineId: string; requestId: string }> }) {
  return serveApplyContent(req, await params);
}
