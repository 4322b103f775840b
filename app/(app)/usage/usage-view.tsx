"use client";
// Hours of VM sessions per machine per month, with their size: what billing is based on.
import { useQuery } from "@tanstack/react-query";
import { errorMessage, useTRPC } from "../../_trpc/client";
import { Card, Notice, PageTitle } from "../../_components/ui";

function monthName(month: string): string {
  const [year, m] = month.split("-").map(Number);
  return new Date(year!, m! - 1, 1).toLocaleDateString(undefined, { month: "long", year: "numeric" });
}

const hours = (n: number) => n.toFixed(n < 10 ? 2 : 1);
/** Running time as people read it: minutes under an hour, hours above. */
const duration = (h: number) => (h < 1 ? `${Math.round(h * 60)} min` : `${h.toFixed(h < 10 ? 1 : 0)} h`);

export function UsageView() {
  const trpc = useTRPC();
  const usage = useQuery(trpc.sessions.usage.queryOptions());
  const months = new Map<string, NonNullable<typeof usage.data>>();
  for (const row of usage.data ?? []) months.set(row.month, [...(months.get(row.month) ?? []), row]);

  return (
    <div className="space-y-6">
      <PageTitle subtitle="Time your sessions' VMs ran, per machine and month. A session counts in the month it started.">Usage</PageTitle>
      {usage.isError ? <Notice kind="error">{errorMessage(usage.error)}</Notice> : null}
      {usage.isSuccess && months.size === 0 ? (
        <Card>
          <p className="text-sm text-slate-600 dark:text-slate-400">No sessions have run yet. Start one from a machine&apos;s backups.</p>
        </Card>
      ) : null}
      {[...months.entries()].map(([month, rows]) => (
        <Card key={month} title={monthName(month)}>
          <table className="w-full text-left text-sm">
            <thead className="text-xs text-slate-600 dark:text-slate-400">
              <tr>
                <th className="py-1 font-medium">Machine</th>
                <th className="py-1 text-right font-medium">Sessions</th>
                <th className="py-1 text-right font-medium">Running time</th>
                <th className="hidden py-1 text-right font-medium sm:table-cell">vCPU-hours</th>
                <th className="hidden py-1 text-right font-medium sm:table-cell">GiB-hours</th>
              </tr>
            </thead>
            <tbody className="tabular-nums">
              {rows.map((row) => (
                <tr key={row.machineId} className="border-t border-slate-200 dark:border-slate-800">
                  <td className="py-2 [overflow-wrap:anywhere]">{row.machineName}</td>
                  <td className="py-2 text-right">{row.sessions}</td>
                  <td className="py-2 text-right font-medium">{duration(row.hours)}</td>
                  <td className="hidden py-2 text-right sm:table-cell">{hours(row.vcpuHours)}</td>
                  <td className="hidden py-2 text-right sm:table-cell">{hours(row.gibHours)}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </Card>
      ))}
    </div>
  );
}
