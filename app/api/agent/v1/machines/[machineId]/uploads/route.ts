import { serveCreateUpload } from "@/server/agent-api/serve-uploads";

export async function POST(req: Request, { params }: { params: Promise<{ machineId: string }> }) {
  return serveCreateUpload(req, await params);
}
