"use client";
// What a saved session changed, file by file (server/changes): a tree of directories with counts
// and sizes, each change marked added / modified / deleted with what about it changed, system
// noise (logs, caches, temporary files) hidden by a rule shown beside the switch, and any changed
// file downloadable as it is after the session (or as it was, for a deleted one). Each change has
// a box: what is unticked is left out when the changes are sent home (apply-back-panel.tsx);
// system noise starts unticked.
import { useMutation, useQuery } from "@tanstack/react-query";
import { createContext, useContext, useEffect, useState } from "react";
import type { ChangeKind } from "@/wire/enums";
import { describeNoiseRule, isNoise, pathOnPc } from "@/wire/changes";
import { formatBytes } from "../../../_components/format";
import { Button, Card, Notice } from "../../../_components/ui";
import { errorMessage, useTRPC } from "../../../_trpc/client";
import { ApplyBackPanel } from "./apply-back-panel";
import { changeTree, type ChangeNode } from "./change-tree";

/** Where the PC mounts each filesystem of the changes (device → mount point), as its fstab says. */
const MountPoints = createContext<Readonly<Record<string, string>>>({});

/** The changes left out of sending home, and how to tick or untick one. */
const Exclusion = createContext<{ excluded: ReadonlySet<string>; toggle: (id: string) => void } | null>(null);

const KIND_STYLE: Record<ChangeKind, { mark: string; className: string }> = {
  added: { mark: "+", className: "bg-emerald-100 text-emerald-800 dark:bg-emerald-900/60 dark:text-emerald-200" },
  modified: { mark: "~", className: "bg-amber-100 text-amber-800 dark:bg-amber-900/60 dark:text-amber-200" },
  deleted: { mark: "−", className: "bg-red-100 text-red-800 dark:bg-red-900/60 dark:text-red-200" },
};

type Change = {
  id: string;
  filesystem: string;
  path: string;
  change: ChangeKind;
  aspects: string[];
  before: { type: string; size: number | null } | null;
  after: { type: string; size: number | null } | null;
};

function ChangeRow({ change }: { change: Change }) {
  const exclusion = useContext(Exclusion);
  const mountPoints = useContext(MountPoints);
  const style = KIND_STYLE[change.change];
  const state = change.after ?? change.before;
  const side = change.after?.type === "file" ? "after" : change.before?.type === "file" && !change.after ? "before" : null;
  const sizes =
    change.change === "modified" && change.before?.size != null && change.after?.size != null && change.before.size !== change.after.size
      ? `${formatBytes(change.before.size)} → ${formatBytes(change.after.size)}`
      : state?.size != null
        ? formatBytes(state.size)
        : "";
  return (
    <span className="flex min-w-0 flex-wrap items-center gap-x-2">
      {exclusion ? (
        <input
          type="checkbox"
          className="accent-brand-600"
          aria-label={`Send ${pathOnPc(mountPoints[change.filesystem], change.path)} home`}
          checked={!exclusion.excluded.has(change.id)}
          onChange={() => exclusion.toggle(change.id)}
          onClick={(e) => e.stopPropagation()}
        />
      ) : null}
      <span className={`rounded px-1.5 text-xs font-semibold ${style.className}`} title={change.change}>
        {style.mark} {change.change}
      </span>
      {change.aspects.length > 0 ? <span className="text-xs text-slate-600 dark:text-slate-400">{change.aspects.join(", ")}</span> : null}
      {state && state.type !== "file" ? <span className="text-xs text-slate-600 dark:text-slate-400">{state.type}</span> : null}
      {sizes ? <span className="text-xs tabular-nums text-slate-600 dark:text-slate-400">{sizes}</span> : null}
      {side ? (
        <a className="text-xs font-medium text-brand-700 underline dark:text-brand-300" href={`/api/changes/${change.id}?side=${side}`} download>
          Download{side === "before" ? " (as it was)" : ""}
        </a>
      ) : null}
    </span>
  );
}

function Tree({ node }: { node: ChangeNode<Change> }) {
  return (
    <ul className="ml-3 border-l border-slate-200 pl-3 dark:border-slate-700">
      {node.children.map((child) =>
        child.children.length > 0 ? (
          <li key={child.path}>
            <details open>
              <summary className="cursor-pointer py-0.5">
                <span className="font-medium">{child.name}/</span>{" "}
                <span className="text-xs text-slate-600 dark:text-slate-400">
                  {child.count} {child.count === 1 ? "change" : "changes"}, {formatBytes(child.bytes)}
                </span>
                {child.change ? (
                  <span className="ml-2 inline-block">
                    <ChangeRow change={child.change} />
                  </span>
                ) : null}
              </summary>
              <Tree node={child} />
            </details>
          </li>
        ) : (
          <li key={child.path} className="flex flex-wrap items-center gap-x-2 py-0.5" data-testid="change" data-path={child.path}>
            <span className="break-all">{child.name}</span>
            {child.change ? <ChangeRow change={child.change} /> : null}
          </li>
        ),
      )}
    </ul>
  );
}

export function ChangesCard({ sessionId, machineId }: { sessionId: string; machineId: string }) {
  const trpc = useTRPC();
  const [showNoise, setShowNoise] = useState(false);
  const [excluded, setExcluded] = useState<ReadonlySet<string> | null>(null);
  const list = useQuery({
    ...trpc.changes.list.queryOptions({ sessionId }),
    refetchInterval: (query) => (query.state.data && (query.state.data.state === "pending" || query.state.data.state === "running") ? 3000 : false),
  });
  const retry = useMutation(trpc.changes.retry.mutationOptions({ onSuccess: () => void list.refetch() }));
  const changes = list.data?.state === "done" ? list.data.changes : null;
  useEffect(() => {
    if (changes && excluded === null) setExcluded(new Set(changes.filter((c) => isNoise(c.path)).map((c) => c.id)));
  }, [changes, excluded]);
  const toggle = (id: string) =>
    setExcluded((before) => {
      const next = new Set(before);
      if (!next.delete(id)) next.add(id);
      return next;
    });
  if (list.isError) return <Notice kind="error">{errorMessage(list.error)}</Notice>;
  const set = list.data;
  if (!set) return null;

  let body;
  if (set.state === "pending" || set.state === "running") {
    body = <p className="text-sm" aria-live="polite">Listing what changed, file by file: both images are read (a minute or so)…</p>;
  } else if (set.state === "failed") {
    body = (
      <div className="space-y-3">
        <Notice kind="error">{set.problem ?? "Listing the changes failed."}</Notice>
        {retry.error ? <Notice kind="error">{errorMessage(retry.error)}</Notice> : null}
        <Button disabled={retry.isPending} onClick={() => retry.mutate({ sessionId })}>
          List the changes again
        </Button>
      </div>
    );
  } else {
    const noise = set.changes.filter((c) => isNoise(c.path));
    const shown = showNoise ? set.changes : set.changes.filter((c) => !isNoise(c.path));
    const filesystems = [...new Set(shown.map((c) => c.filesystem))];
    const counts = (["added", "modified", "deleted"] as const).map((kind) => `${shown.filter((c) => c.change === kind).length} ${kind}`).join(" · ");
    body = (
      <div className="space-y-3 text-sm">
        <p aria-live="polite" data-testid="change-counts">{set.changes.length === 0 ? "Nothing changed." : counts}</p>
        {set.changes.length > 0 ? (
          <p className="text-xs text-slate-600 dark:text-slate-400">A download reads the file out of its image first: it starts after a few seconds.</p>
        ) : null}
        {noise.length > 0 ? (
          <label className="flex items-start gap-2">
            <input type="checkbox" className="mt-1" checked={showNoise} onChange={(e) => setShowNoise(e.target.checked)} />
            <span>
              Show system noise ({noise.length} hidden)
              <span className="block text-xs text-slate-600 dark:text-slate-400">Noise: {describeNoiseRule()}.</span>
            </span>
          </label>
        ) : null}
        {filesystems.map((fs) => (
          <div key={fs}>
            <p className="text-xs text-slate-600 dark:text-slate-400" data-testid="change-filesystem">
              {set.mountPoints[fs] ? <span className="font-mono font-medium text-slate-800 dark:text-slate-200">{set.mountPoints[fs]}</span> : null}
              {set.mountPoints[fs] ? " on " : ""}
              <span className="font-mono">{fs}</span>
            </p>
            <Tree node={changeTree(shown.filter((c) => c.filesystem === fs))} />
          </div>
        ))}
        {(set.filesystems ?? [])
          .filter((f) => !f.compared)
          .map((f) => (
            <p key={f.device} className="text-xs text-slate-600 dark:text-slate-400">
              {f.device} ({f.type || "unknown"}) was not compared: {f.note}.
            </p>
          ))}
      </div>
    );
  }
  return (
    <MountPoints.Provider value={set.mountPoints}>
      <Exclusion.Provider value={excluded ? { excluded, toggle } : null}>
        <Card title="What changed">{body}</Card>
        {changes && changes.length > 0 && excluded ? (
          <ApplyBackPanel sessionId={sessionId} sourceMachineId={machineId} changes={changes} excluded={excluded} mountPoints={set.mountPoints} />
        ) : null}
      </Exclusion.Provider>
    </MountPoints.Provider>
  );
}
