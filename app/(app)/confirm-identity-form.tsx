"use client";
// Asks again for the password (or an authenticator code) before a sensitive action.
import { useState, type FormEvent, type ReactNode } from "react";
import type { TIdentityProof } from "@/wire/account";
import { Button, Field, Notice } from "../_components/ui";

export function ConfirmIdentityForm({
  explanation,
  submitLabel,
  danger,
  busy,
  error,
  allowCode,
  onConfirm,
  onCancel,
}: {
  explanation: ReactNode;
  submitLabel: string;
  danger?: boolean;
  busy: boolean;
  error: string | null;
  allowCode: boolean;
  onConfirm: (proof: TIdentityProof) => void;
  onCancel: () => void;
}) {
  const [useCode, setUseCode] = useState(false);
  const [secret, setSecret] = useState("");

  function submit(event: FormEvent) {
    event.preventDefault();
    onConfirm(useCode ? { code: secret } : { password: secret });
  }

  return (
    <form onSubmit={submit} className="space-y-3">
      <p className="text-sm text-slate-700 dark:text-slate-300">{explanation}</p>
      <Field
        label={useCode ? "Authenticator or recovery code" : "Your password"}
        type={useCode ? "text" : "password"}
        autoComplete={useCode ? "one-time-code" : "current-password"}
        autoFocus
        required
        value={secret}
        onChange={(e) => setSecret(e.target.value)}
      />
      {error ? <Notice kind="error">{error}</Notice> : null}
      <div className="flex flex-wrap gap-2">
        <Button type="submit" kind={danger ? "danger" : "primary"} disabled={busy}>
          {busy ? "Working…" : submitLabel}
        </Button>
        <Button type="button" kind="ghost" onClick={onCancel}>
          Cancel
        </Button>
        {allowCode ? (
          <Button
            type="button"
            kind="ghost"
            onClick={() => {
              setUseCode(!useCode);
              setSecret("");
            }}
          >
            {useCode ? "Use password instead" : "Use a code instead"}
          </Button>
        ) : null}
      </div>
    </form>
  );
}
