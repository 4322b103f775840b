"use client";
// One session, followed live: its state from request to saved, the host it runs on, how long it
// has run, and Finish with the three choices. While the VM runs, its screen covers the page
// (console/console-viewer.tsx); closing it shows these details, and Finish… leads here too.
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import Link from "next/link";
import { useEffect, useState } from "react";
import type { FinishMode, SessionState } from "@/wire/enums";
import { VM_FIRMWARE_LABELS } from "@/wire/firmware";
import { errorMessage, useTRPC } from "../../../_trpc/client";
import { Button, Card, Notice, PageTitle } from "../../../_components/ui";
import { ChangesCard } from "./changes-card";
import { ConsoleViewer } from "./console/console-viewer";

const STATE_TEXT: Record<SessionState, string> = {
  requested: "Requested: choosing a host…",
  provisioning: "Starting: making the disk overlay and the VM…",
  running: "Running",
  stopping: "Shutting the VM down…",
  saving: "Saving what changed…",
  saved: "Saved",
  discarded: "Discarded",
  failed: "Failed",
  host_lost: "Its host stopped answering",
};

const STEPS: SessionState[] = ["requested", "provisioning", "running"];
const BUSY: SessionState[] = ["requested", "provisioning", "stopping", "saving"];

function elapsed(from: Date, to: Date): string {
  const seconds = Math.max(0, Math.round((to.getTime() - from.getTime()) / 1000));
  const h = Math.floor(seconds / 3600);
  const m = Math.floor((seconds % 3600) / 60);
  const s = seconds % 60;
  return h > 0 ? `${h} h ${m} min` : m > 0 ? `${m} min ${s} s` : `${s} s`;
}

const FINISH_CHOICES: { mode: FinishMode; label: string; hint: string }[] = [
  { mode: "incremental", label: "Save as incremental", hint: "A new image on top of the one you started from. Quick: nothing is copied." },
  { mode: "independent", label: "Save as independent", hint: "A standalone image that needs no other. Takes longer: the whole disk is written." },
  { mode: "discard", label: "Discard", hint: "Forget every change made in this session." },
];

export function SessionView({ sessionId }: { sessionId: string }) {
  const trpc = useTRPC();
  const queryClient = useQueryClient();
  const session = useQuery({
    ...trpc.sessions.get.queryOptions({ sessionId }),
    // Follow the state closely while something is happening, loosely otherwise.
    refetchInterval: (query) => (query.state.data && !BUSY.includes(query.state.data.state) ? 10_000 : 1500),
  });
  const finish = useMutation(
    trpc.sessions.finish.mutationOptions({ onSuccess: () => queryClient.invalidateQueries({ queryKey: trpc.sessions.get.queryKey({ sessionId }) }) }),
  );
  // Once saved, the machine's timeline and the usage page have something new to show.
  const state = session.data?.state;
  const machineId = session.data?.machineId;
  useEffect(() => {
    if (state !== "saved" && state !== "discarded") return;
    if (machineId) void queryClient.invalidateQueries({ queryKey: trpc.images.list.queryKey({ machineId }) });
    void queryClient.invalidateQueries({ queryKey: trpc.sessions.usage.queryKey() });
  }, [state, machineId, queryClient, trpc]);
  // The screen opens by itself once the VM runs, unless the user closed it.
  const [screen, setScreen] = useState<"auto" | "open" | "closed">("auto");
  const [now, setNow] = useState(() => new Date());
  useEffect(() => {
    const timer = setInterval(() => setNow(new Date()), 1000);
    return () => clearInterval(timer);
  }, []);

  if (session.isError) return <Notice kind="error">{errorMessage(session.error)}</Notice>;
  const s = session.data;
  if (!s) return <p className="text-sm text-slate-600 dark:text-slate-400">Loading…</p>;
  // A session that never got a host has nothing to save: it can only be discarded.
  const neverStarted = s.state === "failed" && s.hostName === null;
  const canFinish = s.state === "running" || s.state === "host_lost" || s.state === "failed";
  const choices = neverStarted ? FINISH_CHOICES.filter((c) => c.mode === "discard") : FINISH_CHOICES;

  const showScreen = s.state === "running" && screen !== "closed";

  return (
    <div className="space-y-6">
      {showScreen ? (
        <ConsoleViewer
          sessionId={sessionId}
          title={s.machineName}
          onClose={() => setScreen("closed")}
          onFinish={() => {
            setScreen("closed");
            requestAnimationFrame(() => document.getElementById("finish")?.scrollIntoView({ block: "center" }));
          }}
        />
      ) : null}
      <PageTitle subtitle={<>{s.machineName}, {s.imageKind} image of {s.imageTakenAt.toLocaleString()}</>}>Session</PageTitle>
      <Card>
        <p className="text-lg font-semibold" role="status">
          {STATE_TEXT[s.state]}
        </p>
        {STEPS.includes(s.state) ? (
          <ol className="mt-3 flex gap-2 text-xs" aria-label="Progress">
            {STEPS.map((step, i) => (
              <li
                key={step}
                className={`flex-1 rounded-full px-2 py-1 text-center ${
                  i <= STEPS.indexOf(s.state) ? "bg-brand-600 text-white" : "bg-slate-200 text-slate-600 dark:bg-slate-800 dark:text-slate-400"
                }`}
              >
                {step === "requested" ? "Host" : step === "provisioning" ? "Disk and VM" : "Running"}
              </li>
            ))}
          </ol>
        ) : null}
        {s.problem ? <div className="mt-3"><Notice kind="error">{s.problem}</Notice></div> : null}
        <dl className="mt-4 grid grid-cols-[auto_1fr] gap-x-4 gap-y-1 text-sm">
          <dt>Host</dt>
          <dd>{s.hostName ?? "not chosen yet"}</dd>
          <dt>VM</dt>
          <dd>
            {s.vmType === "fast" ? "Fast (virtio)" : "Compatible (SATA, e1000)"}
            {s.cpus ? `, ${s.cpus} vCPU, ${Math.round((s.memoryBytes ?? 0) / 2 ** 20)} MiB` : ""}
          </dd>
          <dt>Firmware</dt>
          <dd>{VM_FIRMWARE_LABELS[s.firmware]}</dd>
          <dt>Network</dt>
          <dd>{s.network === "nat" ? "Isolated NAT: out only" : "None"}</dd>
          <dt>{s.endedAt ? "Ran for" : "Running for"}</dt>
          <dd>{s.runningAt ? elapsed(s.runningAt, s.endedAt ?? now) : "not started"}</dd>
        </dl>
        {s.state === "running" && !showScreen ? (
          <div className="mt-4">
            <Button onClick={() => setScreen("open")}>Show the screen</Button>
          </div>
        ) : null}
        {s.state === "saved" && s.savedImageId ? (
          <p className="mt-4 text-sm">
            Saved as a new {s.finishMode} image. <Link className="font-medium text-brand-700 underline dark:text-brand-300" href={`/machines/${s.machineId}`}>See it on the timeline</Link>
          </p>
        ) : null}
      </Card>
      {s.state === "saved" ? <ChangesCard sessionId={sessionId} machineId={s.machineId} /> : null}
      {canFinish ? (
        <Card title={<span id="finish">Finish</span>}>
          {finish.error ? <Notice kind="error">{errorMessage(finish.error)}</Notice> : null}
          <ul className="grid gap-3 sm:grid-cols-3">
            {choices.map((choice) => (
              <li key={choice.mode} className="flex flex-col gap-2 rounded-lg border border-slate-200 p-3 dark:border-slate-700">
                <Button
                  kind={choice.mode === "discard" ? "danger" : choice.mode === "incremental" ? "primary" : "secondary"}
                  disabled={finish.isPending}
                  onClick={() => {
                    if (choice.mode === "discard" && !window.confirm("Discard every change made in this session? This cannot be undone.")) return;
                    finish.mutate({ sessionId, mode: choice.mode });
                  }}
                >
                  {choice.label}
                </Button>
                <span className="text-xs text-slate-600 dark:text-slate-400">{choice.hint}</span>
              </li>
            ))}
          </ul>
        </Card>
      ) : null}
      <p className="text-sm">
        <Link className="text-brand-700 underline dark:text-brand-300" href={`/machines/${s.machineId}`}>
          ← {s.machineName}
        </Link>
      </p>
    </div>
  );
}
