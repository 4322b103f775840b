import { serveFinalizeUpload } from "@/server/agent-api/serve-uploads";

export async function POST(req: Request, { params }: { params: Promise<{ machineId: string; uploadId: string }> }) {
  return serveFinalizeUpload(req, await params);
}
