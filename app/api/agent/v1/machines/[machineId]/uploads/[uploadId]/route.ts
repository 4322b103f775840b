import { serveUploadState } from "@/server/agent-api/serve-uploads";

export async function GET(req: Request, { params }: { params: Promise<{ machineId: string; uploadId: string }> }) {
  return serveUploadState(req, await params);
}
