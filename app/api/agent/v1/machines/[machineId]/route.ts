import { serveMachineState } from "@/server/agent-api/serve-machine-state";

export async function GET(req: Request, { params }: { params: Promise<{ machineId: string }> }) {
  return serveMachineState(req, await params);
}
