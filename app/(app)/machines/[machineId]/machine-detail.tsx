"use client";
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import Link from "next/link";
import { useRouter } from "next/navigation";
import { useState, type FormEvent } from "react";
import { applyBackMode, type ApplyBackMode } from "@/wire/enums";
import { errorMessage, useTRPC } from "../../../_trpc/client";
import { Button, Card, Field, Notice, PageTitle } from "../../../_components/ui";
import { APPLY_BACK_MODE_LABELS } from "../../apply-back-modes";
import { ConfirmIdentityForm } from "../../confirm-identity-form";
import { EnrollmentToken } from "../../enrollment-token";
import { Timeline } from "./timeline";

export function MachineDetail({ machineId }: { machineId: string }) {
  const trpc = useTRPC();
  const machine = useQuery(trpc.machines.get.queryOptions({ machineId }));

  if (machine.isPending) return <p className="text-sm text-slate-500">Loading…</p>;
  if (machine.isError) {
    return (
      <div className="space-y-4">
        <Notice kind="error">{errorMessage(machine.error)}</Notice>
        <Link href="/" className="text-sm text-brand-700 underline dark:text-brand-100">
          Back to your machines
        </Link>
      </div>
    );
  }
  const m = machine.data;
  return (
    <>
      <Link href="/" className="mb-2 inline-block text-sm text-slate-600 hover:underline dark:text-slate-400">
        ← Machines
      </Link>
      <PageTitle subtitle={m.enrolledAt ? `Agent enrolled ${m.enrolledAt.toLocaleString()}` : "Waiting for its agent to enroll"}>
        <span className="[overflow-wrap:anywhere]">{m.name}</span>
      </PageTitle>
      <div className="space-y-6">
        <Timeline machineId={m.id} enrolled={m.enrolledAt !== null} />
        <ApplyBackModeCard machineId={m.id} mode={m.applyBackMode} />
        <EnrollmentCard machineId={m.id} enrolled={m.enrolledAt !== null} />
        <RenameCard machineId={m.id} name={m.name} />
        <DeleteCard machineId={m.id} name={m.name} />
      </div>
    </>
  );
}

function useRefreshMachine(machineId: string) {
  const trpc = useTRPC();
  const queryClient = useQueryClient();
  return () =>
    Promise.all([
      queryClient.invalidateQueries({ queryKey: trpc.machines.get.queryKey({ machineId }) }),
      queryClient.invalidateQueries({ queryKey: trpc.machines.list.queryKey() }),
    ]);
}

function ApplyBackModeCard({ machineId, mode }: { machineId: string; mode: ApplyBackMode }) {
  const trpc = useTRPC();
  const refresh = useRefreshMachine(machineId);
  const me = useQuery(trpc.account.me.queryOptions());
  // Turning automatic on is a sensitive action: it is confirmed with the password or a code first.
  const [confirmingAuto, setConfirmingAuto] = useState(false);
  const setMode = useMutation(
    trpc.machines.setApplyBackMode.mutationOptions({
      onSuccess: async () => {
        setConfirmingAuto(false);
        await refresh();
      },
    }),
  );
  function choose(option: ApplyBackMode) {
    setMode.reset();
    if (option === "auto") setConfirmingAuto(true);
    else setMode.mutate({ machineId, mode: option });
  }
  return (
    <Card title="Bringing changes home">
      <p className="mb-3 text-sm text-slate-600 dark:text-slate-400">
        When you finish a session, what should this computer’s agent do with the files you changed?
      </p>
      <fieldset className="grid gap-2 sm:grid-cols-3" disabled={setMode.isPending || confirmingAuto}>
        <legend className="sr-only">Apply-back mode</legend>
        {applyBackMode.map((option) => (
          <label
            key={option}
            className={`cursor-pointer rounded-lg border p-3 text-sm ${
              option === mode
                ? "border-brand-500 bg-brand-50 dark:bg-brand-900/40"
                : "border-slate-200 hover:border-slate-400 dark:border-slate-700"
            }`}
          >
            <input
              type="radio"
              name="applyBackMode"
              value={option}
              checked={option === mode}
              onChange={() => choose(option)}
              className="mr-2 accent-brand-600"
            />
            <span className="font-medium">{APPLY_BACK_MODE_LABELS[option].title}</span>
            <span className="mt-1 block text-slate-600 dark:text-slate-400">{APPLY_BACK_MODE_LABELS[option].description}</span>
          </label>
        ))}
      </fieldset>
      {confirmingAuto ? (
        <div className="mt-3">
          <ConfirmIdentityForm
            explanation="With automatic apply-back, every session you save is sent to this computer and applied without asking (files changed at home too are never overwritten). Confirm it is you."
            submitLabel="Turn automatic on"
            busy={setMode.isPending}
            error={setMode.error ? errorMessage(setMode.error) : null}
            allowCode={me.data?.totpEnabled ?? false}
            onConfirm={(proof) => setMode.mutate({ machineId, mode: "auto", proof })}
            onCancel={() => {
              setConfirmingAuto(false);
              setMode.reset();
            }}
          />
        </div>
      ) : setMode.error ? (
        <div className="mt-3">
          <Notice kind="error">{errorMessage(setMode.error)}</Notice>
        </div>
      ) : null}
    </Card>
  );
}

function EnrollmentCard({ machineId, enrolled }: { machineId: string; enrolled: boolean }) {
  const trpc = useTRPC();
  const issue = useMutation(trpc.machines.issueEnrollmentToken.mutationOptions());
  return (
    <Card title="Agent enrollment">
      {issue.data ? (
        <EnrollmentToken token={issue.data.enrollmentToken} expiresAt={issue.data.expiresAt} />
      ) : (
        <>
          <p className="mb-3 text-sm text-slate-600 dark:text-slate-400">
            {enrolled
              ? "Moving to a new computer or reinstalling the agent? Make a new one-time token; the old one stops working."
              : "Lost the token? Make a new one; the old one stops working."}
          </p>
          <Button kind="secondary" onClick={() => issue.mutate({ machineId })} disabled={issue.isPending}>
            New enrollment token
          </Button>
        </>
      )}
      {issue.error ? <div className="mt-3"><Notice kind="error">{errorMessage(issue.error)}</Notice></div> : null}
    </Card>
  );
}

function RenameCard({ machineId, name }: { machineId: string; name: string }) {
  const trpc = useTRPC();
  const refresh = useRefreshMachine(machineId);
  const [draft, setDraft] = useState(name);
  const rename = useMutation(trpc.machines.rename.mutationOptions({ onSuccess: refresh }));
  function submit(event: FormEvent) {
    event.preventDefault();
    rename.mutate({ machineId, name: draft });
  }
  return (
    <Card title="Name">
      <form onSubmit={submit} className="flex flex-col gap-3 sm:flex-row sm:items-start">
        <div className="flex-1">
          <Field
            label="Machine name"
            required
            maxLength={64}
            value={draft}
            onChange={(e) => setDraft(e.target.value)}
            error={rename.error ? errorMessage(rename.error) : null}
          />
        </div>
        <Button type="submit" kind="secondary" className="sm:mt-6" disabled={rename.isPending || draft === name}>
          Rename
        </Button>
      </form>
    </Card>
  );
}

function DeleteCard({ machineId, name }: { machineId: string; name: string }) {
  const trpc = useTRPC();
  const router = useRouter();
  const queryClient = useQueryClient();
  const me = useQuery(trpc.account.me.queryOptions());
  const [confirming, setConfirming] = useState(false);
  const remove = useMutation(
    trpc.machines.delete.mutationOptions({
      onSuccess: async () => {
        await queryClient.invalidateQueries({ queryKey: trpc.machines.list.queryKey() });
        router.replace("/");
      },
    }),
  );
  return (
    <Card title="Delete machine">
      {confirming ? (
        <ConfirmIdentityForm
          explanation={<>Deleting “{name}” removes it and everything Twinboot keeps for it. Confirm it is you.</>}
          submitLabel="Delete machine"
          danger
          busy={remove.isPending}
          error={remove.error ? errorMessage(remove.error) : null}
          allowCode={me.data?.totpEnabled ?? false}
          onConfirm={(proof) => remove.mutate({ machineId, proof })}
          onCancel={() => {
            setConfirming(false);
            remove.reset();
          }}
        />
      ) : (
        <Button kind="danger" onClick={() => setConfirming(true)}>
          Delete…
        </Button>
      )}
    </Card>
  );
}
