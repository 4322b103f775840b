import { serveEnrollment } from "@/server/agent-api/serve-enrollment";

export function POST(req: Request) {
  return serveEnrollment(req);
}
