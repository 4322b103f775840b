"use client";
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { signOut } from "next-auth/react";
import Link from "next/link";
import { useState, type FormEvent } from "react";
import type { AuditAction } from "@/db/schema";
import { errorMessage, useTRPC } from "../../_trpc/client";
import { Button, Card, Field, Notice, PageTitle, SecretBox } from "../../_components/ui";
import { describeUserAgent } from "../../_components/user-agent";
import { ConfirmIdentityForm } from "../confirm-identity-form";
import { VmPreferencesCard } from "./vm-preferences";

export function AccountSettings() {
  const trpc = useTRPC();
  const me = useQuery(trpc.account.me.queryOptions());
  if (me.isPending) return <p className="text-sm text-slate-500">Loading…</p>;
  if (me.isError) return <Notice kind="error">{errorMessage(me.error)}</Notice>;
  return (
    <>
      <PageTitle
        subtitle={
          <span className="[overflow-wrap:anywhere]">
            Signed in as {me.data.email} ·{" "}
            <Link href="/usage" className="font-medium text-brand-700 underline dark:text-brand-300">
              Usage
            </Link>
          </span>
        }
      >
        Settings
      </PageTitle>
      <div className="space-y-6">
        <VmPreferencesCard />
        <TwoStepCard enabled={me.data.totpEnabled} recoveryCodesLeft={me.data.recoveryCodesLeft} />
        <PasswordCard />
        <SessionsCard />
        <ActivityCard />
      </div>
    </>
  );
}

function useRefreshAccount() {
  const trpc = useTRPC();
  const queryClient = useQueryClient();
  return () =>
    Promise.all([
      queryClient.invalidateQueries({ queryKey: trpc.account.me.queryKey() }),
      queryClient.invalidateQueries({ queryKey: trpc.account.activity.queryKey() }),
      queryClient.invalidateQueries({ queryKey: trpc.account.sessions.queryKey() }),
    ]);
}

function PasswordCard() {
  const trpc = useTRPC();
  const refresh = useRefreshAccount();
  const [currentPassword, setCurrent] = useState("");
  const [newPassword, setNew] = useState("");
  const [repeat, setRepeat] = useState("");
  const [mismatch, setMismatch] = useState(false);
  const change = useMutation(
    trpc.account.changePassword.mutationOptions({
      onSuccess: () => {
        setCurrent("");
        setNew("");
        setRepeat("");
        void refresh();
      },
    }),
  );
  function submit(event: FormEvent) {
    event.preventDefault();
    setMismatch(newPassword !== repeat);
    if (newPassword !== repeat) return;
    change.mutate({ currentPassword, newPassword });
  }
  return (
    <Card title="Password">
      <form onSubmit={submit} className="grid gap-3 sm:max-w-md">
        <Field label="Current password" type="password" autoComplete="current-password" required value={currentPassword} onChange={(e) => setCurrent(e.target.value)} />
        <Field
          label="New password"
          type="password"
          autoComplete="new-password"
          required
          hint="At least 12 characters. A few unrelated words make a good one."
          value={newPassword}
          onChange={(e) => setNew(e.target.value)}
        />
        <Field
          label="Repeat new password"
          type="password"
          autoComplete="new-password"
          required
          value={repeat}
          onChange={(e) => setRepeat(e.target.value)}
          error={mismatch ? "The two new passwords differ." : null}
        />
        {change.error ? <Notice kind="error">{errorMessage(change.error)}</Notice> : null}
        {change.data ? (
          <Notice kind="success">
            Password changed.{" "}
            {change.data.otherSessionsEnded > 0
              ? `${change.data.otherSessionsEnded} other session${change.data.otherSessionsEnded === 1 ? " was" : "s were"} signed out.`
              : null}
          </Notice>
        ) : null}
        <div>
          <Button type="submit" disabled={change.isPending}>
            Change password
          </Button>
        </div>
      </form>
    </Card>
  );
}

function RecoveryCodes({ codes }: { codes: string[] }) {
  return (
    <div className="space-y-2">
      <p className="text-sm">
        Keep these recovery codes somewhere safe. Each signs you in once if you lose your phone. They are shown only now.
      </p>
      <SecretBox label="Recovery codes">{codes.join("\n")}</SecretBox>
    </div>
  );
}

function TwoStepCard({ enabled, recoveryCodesLeft }: { enabled: boolean; recoveryCodesLeft: number }) {
  const trpc = useTRPC();
  const refresh = useRefreshAccount();
  const [mode, setMode] = useState<"idle" | "confirm-on" | "scan" | "confirm-off" | "confirm-codes">("idle");
  const [code, setCode] = useState("");
  const begin = useMutation(trpc.account.beginTotpSetup.mutationOptions({ onSuccess: () => setMode("scan") }));
  const confirm = useMutation(
    trpc.account.confirmTotpSetup.mutationOptions({
      onSuccess: () => {
        setMode("idle");
        setCode("");
        void refresh();
      },
    }),
  );
  const disable = useMutation(
    trpc.account.disableTotp.mutationOptions({
      onSuccess: () => {
        setMode("idle");
        confirm.reset();
        void refresh();
      },
    }),
  );
  const regenerate = useMutation(
    trpc.account.regenerateRecoveryCodes.mutationOptions({
      onSuccess: () => {
        setMode("idle");
        void refresh();
      },
    }),
  );
  const newCodes = confirm.data?.recoveryCodes ?? regenerate.data?.recoveryCodes;

  return (
    <Card
      title="Two-step sign-in"
      action={
        <span className={`rounded-full px-2 py-0.5 text-xs font-medium ${enabled ? "bg-emerald-100 text-emerald-800 dark:bg-emerald-900/60 dark:text-emerald-200" : "bg-slate-200 text-slate-700 dark:bg-slate-800 dark:text-slate-300"}`}>
          {enabled ? "On" : "Off"}
        </span>
      }
    >
      <div className="space-y-4">
        {newCodes ? <RecoveryCodes codes={newCodes} /> : null}
        {mode === "idle" && !enabled ? (
          <>
            <p className="text-sm text-slate-600 dark:text-slate-400">
              Ask for a code from an authenticator app (such as Aegis, Google Authenticator or 1Password) at every sign-in.
            </p>
            <Button onClick={() => setMode("confirm-on")}>Turn on</Button>
          </>
        ) : null}
        {mode === "idle" && enabled ? (
          <>
            <p className="text-sm text-slate-600 dark:text-slate-400">
              Sign-in asks for a code from your authenticator app. {recoveryCodesLeft} recovery code
              {recoveryCodesLeft === 1 ? "" : "s"} left.
            </p>
            <div className="flex flex-wrap gap-2">
              <Button kind="secondary" onClick={() => setMode("confirm-codes")}>New recovery codes</Button>
              <Button kind="danger" onClick={() => setMode("confirm-off")}>Turn off</Button>
            </div>
          </>
        ) : null}
        {mode === "confirm-on" ? (
          <ConfirmIdentityForm
            explanation="Confirm your password to set up two-step sign-in."
            submitLabel="Continue"
            busy={begin.isPending}
            error={begin.error ? errorMessage(begin.error) : null}
            allowCode={false}
            onConfirm={(proof) => begin.mutate({ proof })}
            onCancel={() => setMode("idle")}
          />
        ) : null}
        {mode === "scan" && begin.data ? (
          <form
            className="space-y-3"
            onSubmit={(e) => {
              e.preventDefault();
              confirm.mutate({ code });
            }}
          >
            <p className="text-sm">Scan this code with your authenticator app, then enter the 6-digit code it shows.</p>
            <img src={begin.data.qrDataUrl} alt="QR code for your authenticator app" className="h-48 w-48 rounded-lg bg-white p-2" />
            <p className="text-xs text-slate-600 dark:text-slate-400">
              Can’t scan? Enter this key by hand: <code className="font-mono [overflow-wrap:anywhere] select-all">{begin.data.secret}</code>
            </p>
            <div className="sm:max-w-xs">
              <Field label="6-digit code" inputMode="numeric" autoComplete="one-time-code" required maxLength={6} value={code} onChange={(e) => setCode(e.target.value)} />
            </div>
            {confirm.error ? <Notice kind="error">{errorMessage(confirm.error)}</Notice> : null}
            <div className="flex gap-2">
              <Button type="submit" disabled={confirm.isPending}>Turn on</Button>
              <Button type="button" kind="ghost" onClick={() => setMode("idle")}>Cancel</Button>
            </div>
          </form>
        ) : null}
        {mode === "confirm-off" ? (
          <ConfirmIdentityForm
            explanation="Turning two-step sign-in off makes your account easier to break into. Confirm it is you."
            submitLabel="Turn off"
            danger
            busy={disable.isPending}
            error={disable.error ? errorMessage(disable.error) : null}
            allowCode
            onConfirm={(proof) => disable.mutate({ proof })}
            onCancel={() => setMode("idle")}
          />
        ) : null}
        {mode === "confirm-codes" ? (
          <ConfirmIdentityForm
            explanation="New recovery codes replace the old ones. Confirm it is you."
            submitLabel="Make new codes"
            busy={regenerate.isPending}
            error={regenerate.error ? errorMessage(regenerate.error) : null}
            allowCode
            onConfirm={(proof) => regenerate.mutate({ proof })}
            onCancel={() => setMode("idle")}
          />
        ) : null}
      </div>
    </Card>
  );
}

function SessionsCard() {
  const trpc = useTRPC();
  const refresh = useRefreshAccount();
  const sessions = useQuery(trpc.account.sessions.queryOptions());
  const revoke = useMutation(
    trpc.account.revokeSession.mutationOptions({
      onSuccess: async (result) => {
        if (result.endedCurrent) await signOut({ redirectTo: "/signin" });
        else await refresh();
      },
    }),
  );
  const everywhere = useMutation(
    trpc.account.signOutEverywhere.mutationOptions({ onSuccess: () => signOut({ redirectTo: "/signin" }) }),
  );
  return (
    <Card
      title="Where you’re signed in"
      action={
        <Button kind="secondary" onClick={() => everywhere.mutate()} disabled={everywhere.isPending}>
          Sign out everywhere
        </Button>
      }
    >
      {sessions.isError ? <Notice kind="error">{errorMessage(sessions.error)}</Notice> : null}
      {revoke.error ? <Notice kind="error">{errorMessage(revoke.error)}</Notice> : null}
      <ul className="divide-y divide-slate-200 dark:divide-slate-800">
        {sessions.data?.map((s) => (
          <li key={s.id} className="flex flex-wrap items-center justify-between gap-2 py-3">
            <div className="min-w-0">
              <p className="text-sm font-medium">
                {describeUserAgent(s.userAgent)}
                {s.current ? <span className="ml-2 rounded-full bg-brand-100 px-2 py-0.5 text-xs text-brand-900">This device</span> : null}
              </p>
              <p className="text-xs text-slate-600 dark:text-slate-400">
                {s.ip ?? "unknown address"} · signed in {s.createdAt.toLocaleString()} · last seen {s.lastSeenAt.toLocaleString()}
              </p>
            </div>
            <Button kind="ghost" onClick={() => revoke.mutate({ sessionId: s.id })} disabled={revoke.isPending}>
              {s.current ? "Sign out" : "Revoke"}
            </Button>
          </li>
        ))}
      </ul>
    </Card>
  );
}

const ACTION_LABELS: Record<AuditAction, string> = {
  sign_in: "Signed in",
  sign_in_failed: "Failed sign-in",
  account_locked: "Account locked",
  sign_out: "Signed out",
  sign_out_everywhere: "Signed out everywhere",
  session_revoked: "Session revoked",
  password_changed: "Password changed",
  totp_enabled: "Two-step sign-in turned on",
  totp_disabled: "Two-step sign-in turned off",
  recovery_code_used: "Recovery code used",
  recovery_codes_regenerated: "New recovery codes",
  user_created: "Account created",
  machine_created: "Machine added",
  machine_renamed: "Machine renamed",
  machine_deleted: "Machine deleted",
  enrollment_token_issued: "Enrollment token issued",
  apply_back_mode_changed: "Apply-back mode changed",
  machine_enrolled: "Agent enrolled",
  image_exported: "Image downloaded",
  hypervisor_added: "Hypervisor host added",
  hypervisor_mode_changed: "Hypervisor host enabled or drained",
  hypervisor_removed: "Hypervisor host removed",
  vm_network_changed: "VM network changed",
  changed_file_downloaded: "Changed file downloaded",
  apply_back_requested: "Changes sent to a machine",
};

function ActivityCard() {
  const trpc = useTRPC();
  const activity = useQuery(trpc.account.activity.queryOptions());
  return (
    <Card title="Recent activity">
      <ul className="space-y-2 text-sm">
        {activity.data?.map((e) => (
          <li key={e.id} className="flex flex-col sm:flex-row sm:justify-between sm:gap-x-4">
            <span className={e.action === "sign_in_failed" || e.action === "account_locked" ? "text-red-700 dark:text-red-400" : ""}>
              {ACTION_LABELS[e.action]}
            </span>
            <span className="text-xs text-slate-600 dark:text-slate-400">
              {e.at.toLocaleString()}
              {e.ip ? ` · ${e.ip}` : ""}
            </span>
          </li>
        ))}
      </ul>
    </Card>
  );
}
