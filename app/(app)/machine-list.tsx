"use client";
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import Link from "next/link";
import { useState, type FormEvent } from "react";
import { errorMessage, useTRPC } from "../_trpc/client";
import { Button, Card, Field, Notice, PageTitle } from "../_components/ui";
import { EnrollmentToken } from "./enrollment-token";
import { APPLY_BACK_MODE_LABELS } from "./apply-back-modes";

export function MachineList() {
  const trpc = useTRPC();
  const machines = useQuery(trpc.machines.list.queryOptions());
  const [adding, setAdding] = useState(false);

  return (
    <>
      <div className="mb-6 flex flex-wrap items-end justify-between gap-3">
        <PageTitle subtitle="The computers Twinboot backs up. Pick one to see its backups.">Machines</PageTitle>
        {!adding && machines.data?.length ? <Button onClick={() => setAdding(true)}>Add a machine</Button> : null}
      </div>
      {machines.isPending ? <p className="text-sm text-slate-500">Loading your machines…</p> : null}
      {machines.isError ? <Notice kind="error">{errorMessage(machines.error)}</Notice> : null}
      {machines.data && machines.data.length === 0 ? <EmptyState /> : null}
      {adding || machines.data?.length === 0 ? (
        <div className="mb-6">
          {/* Kept open after adding, so the one-time token stays on screen until "Done". */}
          <AddMachine
            cancellable={Boolean(machines.data?.length)}
            onAdded={() => setAdding(true)}
            onClose={() => setAdding(false)}
          />
        </div>
      ) : null}
      {machines.data && machines.data.length > 0 ? (
        <ul className="grid gap-3 sm:grid-cols-2">
          {machines.data.map((m) => (
            <li key={m.id}>
              <Link
                href={`/machines/${m.id}`}
                className="block rounded-xl border border-slate-200 bg-white p-4 shadow-sm transition hover:border-brand-500 dark:border-slate-800 dark:bg-slate-900"
              >
                <div className="flex items-start justify-between gap-2">
                  <span className="font-medium [overflow-wrap:anywhere]">{m.name}</span>
                  <span
                    className={`shrink-0 rounded-full px-2 py-0.5 text-xs font-medium ${
                      m.enrolledAt
                        ? "bg-emerald-100 text-emerald-800 dark:bg-emerald-900/60 dark:text-emerald-200"
                        : "bg-amber-100 text-amber-800 dark:bg-amber-900/60 dark:text-amber-200"
                    }`}
                  >
                    {m.enrolledAt ? "Agent enrolled" : "Waiting for agent"}
                  </span>
                </div>
                <p className="mt-2 text-sm text-slate-600 dark:text-slate-400">
                  Apply-back: {APPLY_BACK_MODE_LABELS[m.applyBackMode].title}
                </p>
              </Link>
            </li>
          ))}
        </ul>
      ) : null}
    </>
  );
}

function EmptyState() {
  return (
    <div className="mb-6 rounded-xl border border-dashed border-slate-300 p-6 text-sm leading-relaxed text-slate-700 dark:border-slate-700 dark:text-slate-300">
      <h2 className="mb-2 text-base font-semibold text-slate-900 dark:text-slate-100">No machines yet</h2>
      <p>A machine is a computer whose disk Twinboot backs up, so that you can start it in your browser from any of its backups.</p>
      <ol className="mt-3 list-decimal space-y-1 pl-5">
        <li>Name the computer below, e.g. “Office PC”. Twinboot gives you a one-time enrollment token.</li>
        <li>On that computer, install the Twinboot agent and enroll it with the token.</li>
        <li>The agent sends its first backup; it appears here on the machine’s timeline.</li>
      </ol>
      <p className="mt-3">
        Administrators can also add machines from the server: <code className="font-mono text-xs">twinboot machine add --owner EMAIL --name NAME</code>.
      </p>
    </div>
  );
}

function AddMachine({ cancellable, onAdded, onClose }: { cancellable: boolean; onAdded: () => void; onClose: () => void }) {
  const trpc = useTRPC();
  const queryClient = useQueryClient();
  const [name, setName] = useState("");
  const create = useMutation(
    trpc.machines.create.mutationOptions({
      onSuccess: () => {
        onAdded();
        return queryClient.invalidateQueries({ queryKey: trpc.machines.list.queryKey() });
      },
    }),
  );

  function submit(event: FormEvent) {
    event.preventDefault();
    create.mutate({ name });
  }

  if (create.data) {
    return (
      <Card title={`“${create.data.machine.name}” added`}>
        <EnrollmentToken token={create.data.enrollmentToken} expiresAt={create.data.machine.enrollmentTokenExpiresAt} />
        <div className="mt-4 flex gap-2">
          <Button
            kind="secondary"
            onClick={() => {
              create.reset();
              setName("");
              onClose();
            }}
          >
            Done
          </Button>
        </div>
      </Card>
    );
  }

  return (
    <Card title="Add a machine">
      <form onSubmit={submit} className="flex flex-col gap-3 sm:flex-row sm:items-start">
        <div className="flex-1">
          <Field
            label="Name"
            placeholder="Office PC"
            required
            maxLength={64}
            value={name}
            onChange={(e) => setName(e.target.value)}
            error={create.error ? errorMessage(create.error) : null}
          />
        </div>
        <div className="flex gap-2 sm:pt-6">
          <Button type="submit" disabled={create.isPending}>
            {create.isPending ? "Adding…" : "Add"}
          </Button>
          {cancellable ? (
            <Button type="button" kind="ghost" onClick={onClose}>
              Cancel
            </Button>
          ) : null}
        </div>
      </form>
    </Card>
  );
}
