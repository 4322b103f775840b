import type { Metadata } from "next";
import { MachineDetail } from "./machine-detail";

export const metadata: Metadata = { title: "Machine" };

export default async function MachinePage({ params }: { params: Promise<{ machineId: string }> }) {
  const { machineId } = await params;
  return <MachineDetail machineId={machineId} />;
}
