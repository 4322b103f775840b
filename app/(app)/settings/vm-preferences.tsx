"use client";
// How the user's VMs are finished when they do not finish them: after a time without console
// input, or when they sign out of their last device. Saved as soon as a choice changes.
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { IDLE_TIMEOUT_CHOICES, type TSessionPreferences } from "@/wire/sessions";
import { errorMessage, useTRPC } from "../../_trpc/client";
import { Card, Notice, RadioChoice } from "../../_components/ui";

const FINISH_MODES: { mode: TSessionPreferences["defaultFinishMode"]; label: string; hint: string }[] = [
  { mode: "incremental", label: "Save as incremental", hint: "A new point on the timeline, storing only what changed." },
  { mode: "independent", label: "Save as independent", hint: "A standalone image that needs no other." },
  { mode: "discard", label: "Discard", hint: "What the VM changed is lost." },
];

function timeoutLabel(minutes: number): string {
  return minutes < 60 ? `${minutes} minutes` : minutes === 60 ? "1 hour" : `${minutes / 60} hours`;
}

export function VmPreferencesCard() {
  const trpc = useTRPC();
  const queryClient = useQueryClient();
  const preferences = useQuery(trpc.sessions.preferences.queryOptions());
  const key = trpc.sessions.preferences.queryKey();
  // Shown chosen at once; put back as the server has it if saving fails.
  const save = useMutation(
    trpc.sessions.setPreferences.mutationOptions({
      onMutate: (next) => queryClient.setQueryData(key, next),
      onSuccess: (saved) => queryClient.setQueryData(key, saved),
      onError: () => queryClient.invalidateQueries({ queryKey: key }),
    }),
  );
  if (preferences.isPending) return <Card title="Virtual machines"><p className="text-sm text-slate-500">Loading…</p></Card>;
  if (preferences.isError) return <Card title="Virtual machines"><Notice kind="error">{errorMessage(preferences.error)}</Notice></Card>;
  const current = preferences.data;
  const change = (next: Partial<TSessionPreferences>) => save.mutate({ ...current, ...next });
  return (
    <Card title="Virtual machines">
      <div className="grid gap-4 sm:max-w-xl">
        <div className="grid gap-1 text-sm">
          <label htmlFor="idle-timeout" className="font-medium">
            Finish a VM after no input for
          </label>
          <select
            id="idle-timeout"
            value={current.idleTimeoutMinutes ?? "never"}
            onChange={(e) => change({ idleTimeoutMinutes: e.target.value === "never" ? null : (Number(e.target.value) as TSessionPreferences["idleTimeoutMinutes"]) })}
            className="min-h-11 rounded-lg border border-slate-300 bg-white px-2 sm:max-w-xs dark:border-slate-600 dark:bg-slate-900"
          >
            {IDLE_TIMEOUT_CHOICES.map((minutes) => (
              <option key={minutes} value={minutes}>
                {timeoutLabel(minutes)}
              </option>
            ))}
            <option value="never">Never</option>
          </select>
          <span className="text-xs text-slate-600 dark:text-slate-400">
            Input is typing, clicking or touching in the VM&apos;s screen. A running VM is billed by the hour.
          </span>
        </div>
        <fieldset className="space-y-2">
          <legend className="text-sm font-medium">When a VM is finished for you (idle, or you signed out of your last device)</legend>
          {FINISH_MODES.map((m) => (
            <RadioChoice
              key={m.mode}
              name="default-finish-mode"
              checked={current.defaultFinishMode === m.mode}
              onChange={() => change({ defaultFinishMode: m.mode })}
              label={m.label}
              hint={m.hint}
            />
          ))}
        </fieldset>
        {save.error ? <Notice kind="error">{errorMessage(save.error)}</Notice> : null}
        {save.isSuccess ? <Notice kind="success">Saved.</Notice> : null}
      </div>
    </Card>
  );
}
