// What the agent asks before a backup: is its last image still the server's record?
import { eq } from "drizzle-orm";
import { db } from "@/db/client";
import { images } from "@/db/schema";
import type { TAgentMachineState } from "@/wire/agent";
import type { AgentMachine } from "@/wire/identity";

export async function getAgentMachineState(agent: AgentMachine): Promise<TAgentMachineState> {
  const [last] = agent.lastAgentImageId
    ? await db()
        .select({ id: images.id, takenAt: images.takenAt, virtualSize: images.virtualSize })
        .from(images)
        .where(eq(images.id, agent.lastAgentImageId))
    : [];
  return { machineId: agent.id, machineName: agent.name, lastAgentImage: last ?? null };
}
