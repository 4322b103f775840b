import type { Metadata } from "next";
import { redirect } from "next/navigation";
import { currentSessionUser } from "@/server/auth/session-user";
import { UserList } from "./user-list";

export const metadata: Metadata = { title: "Users" };

export default async function UsersPage() {
  const user = await currentSessionUser();
  if (user?.role !== "admin") redirect("/");
  return <UserList />;
}
