"use client";
// Two steps: email and password, then (when the account has it on) the authenticator code.
import { signIn } from "next-auth/react";
import { useRouter } from "next/navigation";
import { useState, type FormEvent } from "react";
import { Button, Field, Notice } from "../_components/ui";

type Step = "password" | "second-factor";

function formatRetry(epochMs: string | undefined): string {
  const at = new Date(Number(epochMs));
  if (Number.isNaN(at.getTime())) return "later";
  const minutes = Math.max(1, Math.ceil((at.getTime() - Date.now()) / 60_000));
  return `at ${at.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" })} (in ${minutes} minute${minutes === 1 ? "" : "s"})`;
}

/** The sentence for a refusal code from server/auth/next-auth.ts. */
function refusalMessage(code: string | undefined): string {
  const [kind, retryAt] = (code ?? "").split(".");
  switch (kind) {
    case "locked":
      return `This account is locked after too many failed attempts. Try again ${formatRetry(retryAt)}.`;
    case "throttled":
      return `Too many failed sign-ins from your network. Try again ${formatRetry(retryAt)}.`;
    case "second_factor_invalid":
      return "That code is not right, or was already used. Enter the current code from your authenticator app.";
    default:
      return "Email or password is incorrect.";
  }
}

export function SignInForm({ returnTo }: { returnTo: string }) {
  const router = useRouter();
  const [step, setStep] = useState<Step>("password");
  const [email, setEmail] = useState("");
  const [password, setPassword] = useState("");
  const [code, setCode] = useState("");
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);

  async function submit(event: FormEvent) {
    event.preventDefault();
    setBusy(true);
    setError(null);
    try {
      const result = await signIn("credentials", {
        email,
        password,
        secondFactor: step === "second-factor" ? code : "",
        redirect: false,
      });
      if (result?.ok && !result.error) {
        router.replace(returnTo);
        router.refresh();
        return;
      }
      if (result?.code === "second_factor_required") {
        setStep("second-factor");
        return;
      }
      setError(refusalMessage(result?.code));
      if (step === "second-factor") setCode("");
    } catch {
      setError("Twinboot could not be reached. Check your connection and try again.");
    } finally {
      setBusy(false);
    }
  }

  return (
    <form
      onSubmit={submit}
      className="space-y-4 rounded-xl border border-slate-200 bg-white p-5 shadow-sm dark:border-slate-800 dark:bg-slate-900"
    >
      {step === "password" ? (
        <>
          <Field
            label="Email"
            name="email"
            type="email"
            autoComplete="username"
            inputMode="email"
            required
            value={email}
            onChange={(e) => setEmail(e.target.value)}
          />
          <Field
            label="Password"
            name="password"
            type="password"
            autoComplete="current-password"
            required
            value={password}
            onChange={(e) => setPassword(e.target.value)}
          />
        </>
      ) : (
        <>
          <p className="text-sm text-slate-600 dark:text-slate-400">
            Enter the 6-digit code from your authenticator app for <strong className="[overflow-wrap:anywhere]">{email}</strong>, or one
            of your recovery codes.
          </p>
          <Field
            label="Authentication code"
            name="secondFactor"
            autoComplete="one-time-code"
            inputMode="text"
            autoFocus
            required
            maxLength={32}
            value={code}
            onChange={(e) => setCode(e.target.value)}
          />
        </>
      )}
      {error ? <Notice kind="error">{error}</Notice> : null}
      <Button type="submit" className="w-full" disabled={busy}>
        {busy ? "Signing in…" : step === "password" ? "Sign in" : "Verify"}
      </Button>
      {step === "second-factor" ? (
        <button
          type="button"
          className="w-full text-center text-sm text-slate-600 underline-offset-2 hover:underline dark:text-slate-400"
          onClick={() => {
            setStep("password");
            setCode("");
            setError(null);
          }}
        >
          Use a different account
        </button>
      ) : null}
    </form>
  );
}
