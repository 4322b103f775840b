"use client";
import { useQuery } from "@tanstack/react-query";
import { errorMessage, useTRPC } from "../../../_trpc/client";
import { Card, Notice, PageTitle } from "../../../_components/ui";

export function UserList() {
  const trpc = useTRPC();
  const users = useQuery(trpc.admin.users.queryOptions());
  return (
    <>
      <PageTitle subtitle={<>Add users on the server with <code className="font-mono text-xs">twinboot user add</code>.</>}>Users</PageTitle>
      {users.isError ? <Notice kind="error">{errorMessage(users.error)}</Notice> : null}
      <Card>
        <ul className="divide-y divide-slate-200 dark:divide-slate-800">
          {users.data?.map((u) => (
            <li key={u.id} className="flex flex-wrap items-center justify-between gap-2 py-3 text-sm">
              <span className="font-medium [overflow-wrap:anywhere]">{u.email}</span>
              <span className="flex flex-wrap gap-2 text-xs">
                <span className="rounded-full bg-slate-200 px-2 py-0.5 dark:bg-slate-800">{u.role}</span>
                {u.totpEnabled ? <span className="rounded-full bg-emerald-100 px-2 py-0.5 text-emerald-800 dark:bg-emerald-900/60 dark:text-emerald-200">two-step</span> : null}
                {u.lockedUntil && u.lockedUntil > new Date() ? <span className="rounded-full bg-red-100 px-2 py-0.5 text-red-800">locked</span> : null}
              </span>
            </li>
          ))}
        </ul>
      </Card>
    </>
  );
}
