// GET /api/agent/v1/machines/:machineId: what the server knows of the agent's machine.
import { withAgent } from "./agent-route";
import { assertSameMachine } from "./authenticate-agent";
import { getAgentMachineState } from "./machine-state";

export function serveMachineState(req: Request, { machineId }: { machineId: string }): Promise<Response> {
  return withAgent(req, async (agent) => {
    assertSameMachine(agent, machineId);
    return Response.json(await getAgentMachineState(agent));
  });
}
