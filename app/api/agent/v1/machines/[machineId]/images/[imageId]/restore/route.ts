import { serveRestore } from "@/server/agent-api/serve-restore";

export const dynamic = "force-dynamic";

export async function GET(req: Request, { params }: { params: Promise<{ machineId: string; imageId: string }> }) {
  return serveRestore(req, await params);
}
