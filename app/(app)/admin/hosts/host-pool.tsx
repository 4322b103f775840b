"use client";
// The hypervisor pool for administrators: each host's state, capacity and pinned SSH host key,
// drain / enable / remove, a form to add a host, and the VMs' network.
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { useRef, useState, type FormEvent } from "react";
import { errorMessage, useTRPC } from "../../../_trpc/client";
import { Button, Card, Field, Notice, PageTitle } from "../../../_components/ui";
import { VmNetworkCard } from "./vm-network";

const STATE_STYLES = {
  enabled: "bg-emerald-100 text-emerald-800 dark:bg-emerald-900/60 dark:text-emerald-200",
  draining: "bg-amber-100 text-amber-900 dark:bg-amber-900/60 dark:text-amber-100",
  down: "bg-red-100 text-red-800 dark:bg-red-900/60 dark:text-red-100",
} as const;

function gib(bytes: number) {
  return `${(bytes / 2 ** 30).toFixed(1)} GiB`;
}

export function HostPool() {
  const trpc = useTRPC();
  const queryClient = useQueryClient();
  // Health is checked every 30 s on the server; follow it.
  const hosts = useQuery({ ...trpc.admin.hosts.queryOptions(), refetchInterval: 15_000 });
  const refresh = () => queryClient.invalidateQueries({ queryKey: trpc.admin.hosts.queryKey() });
  const setMode = useMutation(trpc.admin.setHostMode.mutationOptions({ onSuccess: refresh }));
  const remove = useMutation(trpc.admin.removeHost.mutationOptions({ onSuccess: refresh }));
  const failure = setMode.error ?? remove.error;

  return (
    <div className="space-y-6">
      <PageTitle subtitle="The machines that run sessions' VMs, reached over SSH. New sessions go to an enabled host with room.">Hypervisor hosts</PageTitle>
      {hosts.isError ? <Notice kind="error">{errorMessage(hosts.error)}</Notice> : null}
      {failure ? <Notice kind="error">{errorMessage(failure)}</Notice> : null}
      <Card>
        {hosts.data?.length === 0 ? (
          <p className="text-sm text-slate-600 dark:text-slate-400">No hosts yet: sessions cannot start until you add one below.</p>
        ) : null}
        <ul className="divide-y divide-slate-200 dark:divide-slate-800">
          {hosts.data?.map((host) => (
            <li key={host.id} className="space-y-2 py-4 text-sm">
              <div className="flex flex-wrap items-center gap-2">
                <span className="text-base font-semibold">{host.name}</span>
                <span className={`rounded-full px-2 py-0.5 text-xs font-medium ${STATE_STYLES[host.state]}`}>{host.state}</span>
                <span className="font-mono text-xs text-slate-600 dark:text-slate-400 [overflow-wrap:anywhere]">
                  {host.sshUser}@{host.sshHost}:{host.sshPort}
                </span>
              </div>
              <p className="text-slate-700 dark:text-slate-300">
                {host.cpus} CPUs, {gib(host.memoryBytes)}, {host.kvm ? "KVM" : "no working KVM: VMs run under TCG (slower)"}, libvirt {host.libvirtUri}
              </p>
              <p className="text-xs text-slate-600 dark:text-slate-400 [overflow-wrap:anywhere]">
                Pinned host key <span className="font-mono">{host.hostKeyFingerprint}</span>
                {host.checkedAt ? ` · checked ${host.checkedAt.toLocaleTimeString()}` : null}
              </p>
              {host.problem ? <Notice kind="error">{host.problem}</Notice> : null}
              <div className="flex flex-wrap gap-2">
                {host.mode === "enabled" ? (
                  <Button kind="secondary" disabled={setMode.isPending} onClick={() => setMode.mutate({ name: host.name, mode: "draining" })}>
                    Drain
                  </Button>
                ) : (
                  <Button kind="secondary" disabled={setMode.isPending} onClick={() => setMode.mutate({ name: host.name, mode: "enabled" })}>
                    Enable
                  </Button>
                )}
                <Button
                  kind="ghost"
                  disabled={remove.isPending}
                  onClick={() => {
                    if (window.confirm(`Remove ${host.name} from the pool? Twinboot forgets its key and stops using it.`)) remove.mutate({ name: host.name });
                  }}
                >
                  Remove
                </Button>
              </div>
            </li>
          ))}
        </ul>
      </Card>
      <AddHostForm onAdded={refresh} />
      <VmNetworkCard />
    </div>
  );
}

function AddHostForm({ onAdded }: { onAdded: () => void }) {
  const trpc = useTRPC();
  const [added, setAdded] = useState<{ name: string; fingerprint: string } | null>(null);
  const formRef = useRef<HTMLFormElement>(null);
  const add = useMutation(
    trpc.admin.addHost.mutationOptions({
      onSuccess: (host) => {
        setAdded({ name: host.name, fingerprint: host.hostKeyFingerprint });
        // The private key does not stay on the screen once it is stored.
        formRef.current?.reset();
        onAdded();
      },
    }),
  );
  const submit = (event: FormEvent<HTMLFormElement>) => {
    event.preventDefault();
    const form = new FormData(event.currentTarget);
    const text = (name: string) => String(form.get(name) ?? "").trim() || undefined;
    add.mutate({
      name: text("name") ?? "",
      ssh: text("ssh") ?? "",
      privateKey: String(form.get("privateKey") ?? ""),
      libvirtUri: text("libvirtUri"),
      expectedFingerprint: text("expectedFingerprint"),
    });
  };
  return (
    <Card title="Add a host">
      {added ? (
        <Notice>
          Added {added.name}. Its SSH host key <span className="font-mono [overflow-wrap:anywhere]">{added.fingerprint}</span> is pinned: any other key is refused.
        </Notice>
      ) : null}
      {add.error ? <Notice kind="error">{errorMessage(add.error)}</Notice> : null}
      <form ref={formRef} onSubmit={submit} className="mt-3 space-y-4">
        <Field label="Name" name="name" required placeholder="rack1-host3" autoComplete="off" />
        <Field label="SSH login" name="ssh" required placeholder="twinboot@10.0.0.5 or twinboot@hv.example.com:2222" autoComplete="off" />
        <label className="block">
          <span className="mb-1 block text-sm font-medium text-slate-700 dark:text-slate-300">Private key</span>
          <textarea
            name="privateKey"
            required
            rows={4}
            spellCheck={false}
            placeholder="-----BEGIN OPENSSH PRIVATE KEY-----"
            className="block w-full rounded-lg border border-slate-300 bg-white px-3 py-2 font-mono text-xs text-slate-900 dark:border-slate-700 dark:bg-slate-900 dark:text-slate-100"
          />
          <span className="mt-1 block text-xs text-slate-500 dark:text-slate-400">Stored encrypted. Its public half goes in the host user&apos;s authorized_keys.</span>
        </label>
        <Field label="libvirt URI (optional)" name="libvirtUri" placeholder="qemu:///system" autoComplete="off" />
        <Field
          label="Expected host key (optional)"
          name="expectedFingerprint"
          placeholder="SHA256:…"
          hint="From ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub on the host; the host is refused if it shows another."
          autoComplete="off"
        />
        <Button type="submit" disabled={add.isPending}>
          {add.isPending ? "Connecting…" : "Add host"}
        </Button>
      </form>
    </Card>
  );
}
