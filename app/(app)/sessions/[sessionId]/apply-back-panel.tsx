"use client";
// Sending a saved session's changes home: to the machine it came from or another of the user's,
// leaving out what is unticked in the list, after confirming with the password or a code. Below,
// each request sent and what the machine's agent did with it, live; one that failed, was declined
// or undone at the computer can be sent again (the same changes, confirmed again).
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { useState } from "react";
import { pathOnPc } from "@/wire/changes";
import { openApplyRequestStates, resendableApplyRequestStates, type ApplyRequestState } from "@/wire/enums";
import { Button, Card, Notice } from "../../../_components/ui";
import { errorMessage, useTRPC } from "../../../_trpc/client";
import { ConfirmIdentityForm } from "../../confirm-identity-form";

const STATE_LABEL: Record<ApplyRequestState, string> = {
  pending: "Sent; waiting for the computer's agent to connect",
  notified: "The computer has it; waiting to be applied",
  applying: "Being applied",
  applied: "Applied",
  applied_with_conflicts: "Applied, with conflicts",
  failed: "Failed",
  declined: "Declined at the computer",
  undone: "Undone at the computer",
};

/** When the request reached the state it is in (for pending: when it was sent, said below). */
function stateTime(r: { state: ApplyRequestState; notifiedAt: Date | null; startedAt: Date | null; finishedAt: Date | null; undoneAt: Date | null }): Date | null {
  if (r.state === "undone") return r.undoneAt;
  if (r.state === "notified") return r.notifiedAt;
  if (r.state === "applying") return r.startedAt;
  return r.state === "pending" ? null : r.finishedAt;
}

export function ApplyBackPanel({
  sessionId,
  sourceMachineId,
  changes,
  excluded,
  mountPoints,
}: {
  sessionId: string;
  sourceMachineId: string;
  changes: { id: string }[];
  excluded: ReadonlySet<string>;
  /** Where the PC mounts each filesystem: the report's paths are shown where they are on the PC. */
  mountPoints: Readonly<Record<string, string>>;
}) {
  const trpc = useTRPC();
  const queryClient = useQueryClient();
  const me = useQuery(trpc.account.me.queryOptions());
  const machines = useQuery(trpc.machines.list.queryOptions());
  const requests = useQuery({
    ...trpc.applyBack.list.queryOptions({ sessionId }),
    refetchInterval: (query) => (query.state.data?.some((r) => (openApplyRequestStates as readonly ApplyRequestState[]).includes(r.state)) ? 2000 : false),
  });
  const [chosenMachineId, setMachineId] = useState<string | null>(null);
  const [confirming, setConfirming] = useState(false);
  const [resending, setResending] = useState<string | null>(null);
  const sendAgain = useMutation(
    trpc.applyBack.sendAgain.mutationOptions({
      onSuccess: async () => {
        setResending(null);
        await queryClient.invalidateQueries({ queryKey: trpc.applyBack.list.queryKey({ sessionId }) });
      },
    }),
  );
  const send = useMutation(
    trpc.applyBack.request.mutationOptions({
      onSuccess: async () => {
        setConfirming(false);
        await queryClient.invalidateQueries({ queryKey: trpc.applyBack.list.queryKey({ sessionId }) });
      },
    }),
  );
  const chosen = changes.filter((c) => !excluded.has(c.id)).length;
  const targets = (machines.data ?? []).filter((m) => m.enrolledAt !== null);
  // The machine the session came from, if its agent is enrolled; else the first that is.
  const machineId = chosenMachineId ?? (targets.find((m) => m.id === sourceMachineId) ?? targets[0])?.id ?? "";
  const target = targets.find((m) => m.id === machineId);

  return (
    <Card title="Bring the changes home">
      <div className="space-y-3 text-sm">
        {targets.length === 0 ? (
          <Notice kind="info">None of your machines has an agent yet: enroll one to send changes to it.</Notice>
        ) : (
          <>
            <label className="flex flex-wrap items-center gap-2">
              <span>Apply to</span>
              <select
                className="rounded-md border border-slate-300 bg-white px-2 py-1 dark:border-slate-700 dark:bg-slate-900"
                value={machineId}
                onChange={(e) => setMachineId(e.target.value)}
                disabled={confirming}
              >
                {targets.map((m) => (
                  <option key={m.id} value={m.id}>
                    {m.name}
                    {m.id === sourceMachineId ? " (where this session came from)" : ""}
                  </option>
                ))}
              </select>
            </label>
            <p className="text-slate-600 dark:text-slate-400">
              {chosen} of {changes.length} changes ticked above. A file changed at home too is not overwritten (unless the agent is set to): yours stays, the session’s version is put beside it.
            </p>
            {confirming && target ? (
              <ConfirmIdentityForm
                explanation={<>The agent on “{target.name}” will write these {chosen} changes to that computer. Confirm it is you.</>}
                submitLabel={`Send ${chosen} changes`}
                busy={send.isPending}
                error={send.error ? errorMessage(send.error) : null}
                allowCode={me.data?.totpEnabled ?? false}
                onConfirm={(proof) => send.mutate({ sessionId, machineId, excludedChangeIds: [...excluded], proof })}
                onCancel={() => {
                  setConfirming(false);
                  send.reset();
                }}
              />
            ) : (
              <Button onClick={() => setConfirming(true)} disabled={chosen === 0 || !target}>
                Send to {target?.name ?? "…"}…
              </Button>
            )}
          </>
        )}
        {requests.data && requests.data.length > 0 ? (
          <ul className="space-y-2" aria-label="Sent">
            {requests.data.map((r) => (
              <li key={r.id} className="rounded-lg border border-slate-200 p-3 dark:border-slate-700" data-testid="apply-request" data-state={r.state}>
                <p>
                  <span className="font-medium">
                    {STATE_LABEL[r.state]}
                    {stateTime(r) ? ` ${stateTime(r)!.toLocaleString()}` : ""}
                  </span>{" "}
                  — sent to “{r.machineName}” {r.automatic ? "automatically" : "by you"} {r.createdAt.toLocaleString()}
                  {r.excludedCount > 0 ? `, ${r.excludedCount} left out` : ""}.
                </p>
                {r.undoCounts ? (
                  <p className="text-slate-600 dark:text-slate-400">
                    {r.undoCounts.restored} path{r.undoCounts.restored === 1 ? "" : "s"} put back as they were
                    {r.undoCounts.keptAside > 0 ? `; ${r.undoCounts.keptAside} changed since the apply, that version kept aside (NAME.twinboot-undo-kept)` : ""}
                  </p>
                ) : null}
                {r.report ? (
                  <p className="text-slate-600 dark:text-slate-400">
                    {r.report.counts.applied} applied, {r.report.counts.alreadyApplied} already so, {r.report.counts.conflicts} conflict{r.report.counts.conflicts === 1 ? "" : "s"},{" "}
                    {r.report.counts.skipped} skipped
                  </p>
                ) : null}
                {r.problem ? <p className="text-slate-600 dark:text-slate-400">{r.problem}</p> : null}
                {r.report && r.report.exceptions.length > 0 ? (
                  <ul className="mt-1 list-disc pl-5 text-xs">
                    {r.report.exceptions.map((e) => (
                      <li key={`${e.filesystem}:${e.path}`} className="break-all" data-testid="apply-exception">
                        {e.outcome}: {pathOnPc(mountPoints[e.filesystem], e.path)}
                        {e.copy ? <> — the session’s version is at {pathOnPc(mountPoints[e.filesystem], e.copy)}</> : null}
                        {e.detail ? <> ({e.detail})</> : null}
                      </li>
                    ))}
                  </ul>
                ) : null}
                {(resendableApplyRequestStates as readonly ApplyRequestState[]).includes(r.state) ? (
                  resending === r.id ? (
                    <div className="mt-2">
                      <ConfirmIdentityForm
                        explanation={<>The same changes go to “{r.machineName}” again{r.excludedCount > 0 ? `, with the same ${r.excludedCount} left out` : ""}. Confirm it is you.</>}
                        submitLabel="Send again"
                        busy={sendAgain.isPending}
                        error={sendAgain.error ? errorMessage(sendAgain.error) : null}
                        allowCode={me.data?.totpEnabled ?? false}
                        onConfirm={(proof) => sendAgain.mutate({ requestId: r.id, proof })}
                        onCancel={() => {
                          setResending(null);
                          sendAgain.reset();
                        }}
                      />
                    </div>
                  ) : (
                    <div className="mt-2">
                      <Button
                        kind="secondary"
                        onClick={() => {
                          sendAgain.reset();
                          setResending(r.id);
                        }}
                      >
                        Send again…
                      </Button>
                    </div>
                  )
                ) : null}
              </li>
            ))}
          </ul>
        ) : null}
      </div>
    </Card>
  );
}
