"use client";
// The administrator's choice of network for new VMs: none, or NAT (each VM alone behind its own).
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import type { VmNetwork } from "@/wire/enums";
import { errorMessage, useTRPC } from "../../../_trpc/client";
import { Card, Notice, RadioChoice } from "../../../_components/ui";

const CHOICES: { network: VmNetwork; label: string; hint: string }[] = [
  { network: "none", label: "No network", hint: "VMs have no network card. Nothing leaves them except their screen." },
  {
    network: "nat",
    label: "Isolated NAT",
    hint: "Each VM is alone behind a NAT of its own: it can reach out (the internet, and whatever its host reaches), nothing reaches in, and it does not see other VMs. Its gateway, 10.0.2.2, leads to the host's own loopback: offer this only on hosts that run no open services on 127.0.0.1.",
  },
];

export function VmNetworkCard() {
  const trpc = useTRPC();
  const queryClient = useQueryClient();
  const key = trpc.admin.vmNetwork.queryKey();
  const current = useQuery(trpc.admin.vmNetwork.queryOptions());
  const save = useMutation(
    trpc.admin.setVmNetwork.mutationOptions({
      onMutate: ({ vmNetwork }) => queryClient.setQueryData(key, vmNetwork),
      onSettled: () => queryClient.invalidateQueries({ queryKey: key }),
    }),
  );
  return (
    <Card title="Network for VMs">
      {current.isError ? <Notice kind="error">{errorMessage(current.error)}</Notice> : null}
      <fieldset className="space-y-3">
        <legend className="mb-2 text-sm text-slate-600 dark:text-slate-400">Applies to VMs started from now on; running ones keep theirs.</legend>
        {CHOICES.map((choice) => (
          <RadioChoice
            key={choice.network}
            name="vm-network"
            checked={current.data === choice.network}
            disabled={!current.data}
            onChange={() => save.mutate({ vmNetwork: choice.network })}
            label={choice.label}
            hint={choice.hint}
          />
        ))}
      </fieldset>
      {save.error ? <div className="mt-3"><Notice kind="error">{errorMessage(save.error)}</Notice></div> : null}
    </Card>
  );
}
