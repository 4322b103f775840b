import type { Metadata } from "next";
import { redirect } from "next/navigation";
import { currentSessionUser } from "@/server/auth/session-user";
import { HostPool } from "./host-pool";

export const metadata: Metadata = { title: "Hypervisor hosts" };

export default async function HostsPage() {
  const user = await currentSessionUser();
  if (user?.role !== "admin") redirect("/");
  return <HostPool />;
}
