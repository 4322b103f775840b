"use client";
// A machine's images, newest first, grouped by day; one is selected ("latest" in one tap).
import { useMutation, useQuery } from "@tanstack/react-query";
import { useRouter } from "next/navigation";
import { Fragment, useState } from "react";
import type { ImageKind, InspectionState, VmFirmware } from "@/wire/enums";
import { presetFirmwareOf, VM_FIRMWARE_LABELS, vmFirmware, type FirmwarePreset } from "@/wire/firmware";
import type { ImageInspection } from "@/server/images/inspect-image";
import { errorMessage, useTRPC } from "../../../_trpc/client";
import { formatBytes } from "../../../_components/format";
import { Button, buttonClass, Card, Notice, RadioChoice } from "../../../_components/ui";

const KIND_STYLES: Record<ImageKind, string> = {
  base: "bg-sky-100 text-sky-900 dark:bg-sky-900/60 dark:text-sky-100",
  incremental: "bg-slate-200 text-slate-800 dark:bg-slate-800 dark:text-slate-200",
  independent: "bg-violet-100 text-violet-900 dark:bg-violet-900/60 dark:text-violet-100",
};

type TimelineImage = { inspectionState: InspectionState; inspection: Record<string, unknown> | null };

function inspectionOf(image: TimelineImage): ImageInspection | null {
  return image.inspectionState === "done" ? (image.inspection as unknown as ImageInspection) : null;
}

/** The OS line of an image: what inspection found, or where inspection stands. */
function describeSystem(image: TimelineImage): string {
  if (image.inspectionState === "pending" || image.inspectionState === "running") return "inspecting…";
  if (image.inspectionState === "failed") return "inspection failed";
  const os = inspectionOf(image)?.os;
  return os ? `${os.productName}${os.productName.includes(os.version) || os.version === "0.0" ? "" : ` (${os.version})`}` : "no OS found";
}

/** What the disk boots with, as inspection found it; the agent's report where it is not inspected. */
function describeBoot(image: TimelineImage & { profile: Record<string, unknown> }): string {
  const inspection = inspectionOf(image);
  const table = inspection?.partitionTable ?? (typeof image.profile.partitionTable === "string" ? image.profile.partitionTable : null);
  const partitions = table && table !== "unknown" && table !== "none" ? `, ${table.toUpperCase()} partitions` : "";
  const boot = inspection?.bootableWith;
  if (!boot) return `${String(image.profile.firmware ?? "unknown").toUpperCase()} (as the agent reported)${partitions}`;
  const found = [boot.uefi ? `UEFI (${boot.efiLoader ?? "an EFI loader"})` : null, boot.bios ? "BIOS" : null].filter(Boolean);
  return `${found.length > 0 ? found.join(" or ") : "no boot loader found"}${partitions}`;
}

export function Timeline({ machineId, enrolled }: { machineId: string; enrolled: boolean }) {
  const trpc = useTRPC();
  const list = useQuery(trpc.images.list.queryOptions({ machineId }, { refetchInterval: 15_000 }));
  const [selectedId, setSelectedId] = useState<string | null>(null);
  const [vmType, setVmType] = useState<VmType>("compatible");
  /** The user's firmware choice for the selected image; until they choose, the disk's preset. */
  const [firmwareChoice, setFirmwareChoice] = useState<{ imageId: string; firmware: VmFirmware } | null>(null);
  const router = useRouter();
  const start = useMutation(trpc.sessions.start.mutationOptions({ onSuccess: ({ sessionId }) => router.push(`/sessions/${sessionId}`) }));
  const reinspect = useMutation(trpc.images.retryInspection.mutationOptions({ onSuccess: () => void list.refetch() }));

  if (list.isError) return <Notice kind="error">{errorMessage(list.error)}</Notice>;
  const imagesNewestFirst = list.data ?? [];
  if (list.isSuccess && imagesNewestFirst.length === 0) {
    return (
      <Card title="Backups">
        <p className="text-sm text-slate-600 dark:text-slate-400">
          {enrolled
            ? "No backups yet. The agent sends the first one when you run `twinboot-agent backup` on the computer."
            : "No backups yet. Enroll the agent on this computer to start sending them."}
        </p>
      </Card>
    );
  }
  const latest = imagesNewestFirst[0];
  const selected = imagesNewestFirst.find((i) => i.id === selectedId);
  const preset = selected ? presetFirmwareOf(selected) : null;
  const firmware = selected && firmwareChoice?.imageId === selected.id ? firmwareChoice.firmware : preset?.firmware ?? "bios";
  const days = new Map<string, typeof imagesNewestFirst>();
  for (const image of imagesNewestFirst) {
    const day = image.takenAt.toLocaleDateString(undefined, { weekday: "long", year: "numeric", month: "long", day: "numeric" });
    days.set(day, [...(days.get(day) ?? []), image]);
  }

  return (
    <Card
      title="Backups"
      action={
        latest ? (
          <Button disabled={start.isPending} onClick={() => start.mutate({ imageId: latest.id, vmType })}>
            Start from latest
          </Button>
        ) : null
      }
    >
      {start.error ? <Notice kind="error">{errorMessage(start.error)}</Notice> : null}
      {selected ? (
        <div className="mb-4 rounded-lg border border-brand-500 bg-brand-50 p-3 text-sm dark:bg-brand-900/30" aria-label="Selected image">
          <p className="font-medium">
            Selected: {selected.kind} image of {selected.takenAt.toLocaleString()}
            {selected.id === latest?.id ? " (latest)" : ""}
          </p>
          <dl className="mt-2 grid grid-cols-[auto_1fr] gap-x-4 gap-y-1 text-slate-700 dark:text-slate-300">
            <dt>Disk</dt>
            <dd>{formatBytes(selected.virtualSize)}, {formatBytes(selected.bytesStored)} stored</dd>
            <dt>From</dt>
            <dd>{selected.origin === "agent" ? "the computer's agent" : "a session"}</dd>
            <dt>Parent</dt>
            <dd className="[overflow-wrap:anywhere]">{selected.parentId ?? "none (a full image)"}</dd>
            <dt>System</dt>
            <dd>
              {describeSystem(selected)}
              {selected.inspectionState === "failed" ? (
                <span className="mt-1 block space-y-2">
                  <span className="block">{String(selected.inspection?.error ?? "")}</span>
                  {reinspect.error ? <Notice kind="error">{errorMessage(reinspect.error)}</Notice> : null}
                  <Button disabled={reinspect.isPending} onClick={() => reinspect.mutate({ imageId: selected.id })}>
                    Inspect again
                  </Button>
                </span>
              ) : null}
            </dd>
            {inspectionOf(selected)?.os ? (
              <>
                <dt>Hostname</dt>
                <dd className="[overflow-wrap:anywhere]">{inspectionOf(selected)!.os!.hostname}</dd>
                <dt>Applications</dt>
                <dd>
                  {inspectionOf(selected)!.os!.applications.length === 0
                    ? "none found"
                    : inspectionOf(selected)!.os!.applications.slice(0, 12).map((a) => a.name).join(", ") +
                      (inspectionOf(selected)!.os!.applications.length > 12 ? ", …" : "")}
                </dd>
              </>
            ) : null}
            {inspectionOf(selected)?.filesystems.map((fs) => (
              <Fragment key={fs.device}>
                <dt className="font-mono text-xs">{fs.device}</dt>
                <dd>
                  {fs.mountPoint ? <span className="font-mono">{fs.mountPoint}</span> : null}
                  {fs.mountPoint ? ", " : ""}
                  {fs.type}
                  {fs.sizeBytes !== null ? `, ${formatBytes(fs.usedBytes ?? 0)} used of ${formatBytes(fs.sizeBytes)}` : ""}
                  {fs.note ? `: ${fs.note}` : ""}
                </dd>
              </Fragment>
            ))}
            {inspectionOf(selected)?.notes?.length ? (
              <>
                <dt>Not read</dt>
                <dd>
                  <ul className="list-disc pl-4">
                    {inspectionOf(selected)!.notes.map((note) => (
                      <li key={note}>{note}</li>
                    ))}
                  </ul>
                </dd>
              </>
            ) : null}
            <dt>Boots with</dt>
            <dd>{describeBoot(selected)}</dd>
          </dl>
          <StartControls
            vmType={vmType}
            onVmType={setVmType}
            firmware={firmware}
            preset={preset!}
            onFirmware={(chosen) => setFirmwareChoice({ imageId: selected.id, firmware: chosen })}
            pending={start.isPending}
            // Only a choice of the user's is sent: otherwise the server presets from the image as it is then.
            onStart={() => start.mutate({ imageId: selected.id, vmType, ...(firmwareChoice?.imageId === selected.id ? { firmware } : {}) })}
          />
          <DownloadImage imageId={selected.id} standalone={selected.kind !== "incremental"} />
        </div>
      ) : null}
      <ol className="space-y-5">
        {[...days.entries()].map(([day, dayImages]) => (
          <li key={day}>
            <h3 className="mb-2 text-xs font-semibold tracking-wide text-slate-500 uppercase">{day}</h3>
            <ul className="space-y-2">
              {dayImages.map((image) => (
                <li key={image.id}>
                  <button
                    type="button"
                    onClick={() => setSelectedId(image.id)}
                    aria-pressed={image.id === selectedId}
                    className={`flex w-full flex-wrap items-center gap-x-3 gap-y-1 rounded-lg border px-3 py-2 text-left text-sm ${
                      image.id === selectedId
                        ? "border-brand-500 ring-2 ring-brand-500/30"
                        : "border-slate-200 hover:border-slate-400 dark:border-slate-700"
                    }`}
                  >
                    <span className="font-medium tabular-nums">
                      {image.takenAt.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" })}
                    </span>
                    <span className={`rounded-full px-2 py-0.5 text-xs font-medium ${KIND_STYLES[image.kind]}`}>{image.kind}</span>
                    {image.origin === "session" ? <span className="text-xs text-slate-500">from a session</span> : null}
                    <span className="text-xs text-slate-600 dark:text-slate-400">{describeSystem(image)}</span>
                    <span className="ml-auto text-xs text-slate-600 tabular-nums dark:text-slate-400">
                      {formatBytes(image.bytesStored)} of {formatBytes(image.virtualSize)}
                    </span>
                  </button>
                </li>
              ))}
            </ul>
          </li>
        ))}
      </ol>
    </Card>
  );
}

const DOWNLOAD_FORMATS = [
  { format: "qcow2", label: "qcow2 (QEMU, Proxmox)" },
  { format: "raw", label: "raw disk (dd)" },
  { format: "vmdk", label: "VMDK (VMware, VirtualBox)" },
  { format: "vhdx", label: "VHDX (Hyper-V)" },
] as const;

/** A plain link: the browser streams the file to disk and shows its own progress. */
function DownloadImage({ imageId, standalone }: { imageId: string; standalone: boolean }) {
  const [format, setFormat] = useState<(typeof DOWNLOAD_FORMATS)[number]["format"]>("qcow2");
  const converted = format === "vmdk" || format === "vhdx" || (format === "qcow2" && !standalone);
  return (
    <div className="mt-3 flex flex-wrap items-center gap-2 text-sm">
      <label htmlFor="download-format">Download as</label>
      <select
        id="download-format"
        value={format}
        onChange={(e) => setFormat(e.target.value as typeof format)}
        className="min-h-11 rounded-lg border border-slate-300 bg-white px-2 dark:border-slate-600 dark:bg-slate-900"
      >
        {DOWNLOAD_FORMATS.map((f) => (
          <option key={f.format} value={f.format}>
            {f.label}
          </option>
        ))}
      </select>
      <a
        href={`/api/images/${imageId}/export?format=${format}`}
        download
        className={buttonClass("secondary")}
      >
        Download
      </a>
      {converted ? <span className="text-xs text-slate-600 dark:text-slate-400">The server converts the image first; the download starts when it is ready.</span> : null}
    </div>
  );
}

type VmType = "compatible" | "fast";

const VM_TYPES: { type: VmType; label: string; hint: string }[] = [
  { type: "compatible", label: "Compatible", hint: "SATA disk and e1000 network: any OS starts." },
  { type: "fast", label: "Fast", hint: "virtio disk and network: quicker, needs virtio drivers in the OS." },
];

const FIRMWARE_HINTS: Record<VmFirmware, string> = {
  bios: "Legacy PC firmware: for disks with an MBR boot loader.",
  uefi: "For disks with an EFI system partition.",
  "uefi-secure-boot": "UEFI that runs only loaders signed with Microsoft's keys (Windows, Debian's shim).",
};

function StartControls({
  vmType,
  onVmType,
  firmware,
  preset,
  onFirmware,
  pending,
  onStart,
}: {
  vmType: VmType;
  onVmType: (type: VmType) => void;
  firmware: VmFirmware;
  preset: FirmwarePreset;
  onFirmware: (firmware: VmFirmware) => void;
  pending: boolean;
  onStart: () => void;
}) {
  return (
    <fieldset className="mt-3 space-y-2">
      <legend className="text-sm font-medium">Start a VM from this image</legend>
      <fieldset className="space-y-1">
        <legend className="text-sm">Firmware</legend>
        <div className="grid gap-2 sm:grid-cols-3">
          {vmFirmware.map((f) => (
            <RadioChoice
              key={f}
              name="vm-firmware"
              checked={firmware === f}
              onChange={() => onFirmware(f)}
              label={`${VM_FIRMWARE_LABELS[f]}${preset.firmware === f && preset.fromDisk ? " (found)" : ""}`}
              hint={FIRMWARE_HINTS[f]}
              className={`flex cursor-pointer gap-2 rounded-lg border p-2 text-sm ${firmware === f ? "border-brand-500 bg-white dark:bg-slate-900" : "border-slate-300 dark:border-slate-700"}`}
            />
          ))}
        </div>
        <p className="text-xs text-slate-600 dark:text-slate-400">{preset.reason}</p>
      </fieldset>
      <div className="grid gap-2 sm:grid-cols-2">
        {VM_TYPES.map((t) => (
          <RadioChoice
            key={t.type}
            name="vm-type"
            checked={vmType === t.type}
            onChange={() => onVmType(t.type)}
            label={t.label}
            hint={t.hint}
            className={`flex cursor-pointer gap-2 rounded-lg border p-2 text-sm ${vmType === t.type ? "border-brand-500 bg-white dark:bg-slate-900" : "border-slate-300 dark:border-slate-700"}`}
          />
        ))}
      </div>
      <Button disabled={pending} onClick={onStart}>
        {pending ? "Starting…" : "Start"}
      </Button>
    </fieldset>
  );
}
