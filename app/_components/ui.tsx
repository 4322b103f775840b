// Small building blocks shared by the pages: buttons, fields, cards, notices.
import type { ButtonHTMLAttributes, InputHTMLAttributes, ReactNode } from "react";

type ButtonKind = "primary" | "secondary" | "danger" | "ghost";

const BUTTON_KINDS: Record<ButtonKind, string> = {
  primary: "bg-brand-600 text-white hover:bg-brand-700 disabled:bg-brand-600/50",
  secondary:
    "border border-slate-300 bg-white text-slate-800 hover:bg-slate-100 dark:border-slate-700 dark:bg-slate-900 dark:text-slate-100 dark:hover:bg-slate-800",
  danger: "bg-red-600 text-white hover:bg-red-700 disabled:bg-red-600/50",
  ghost: "text-slate-700 hover:bg-slate-200/70 dark:text-slate-200 dark:hover:bg-slate-800",
};

/** A button's look, for links that act as buttons (downloads). */
export function buttonClass(kind: ButtonKind = "primary", className = ""): string {
  return `inline-flex min-h-11 items-center justify-center gap-2 rounded-lg px-4 text-sm font-medium transition focus-visible:outline-2 focus-visible:outline-offset-2 focus-visible:outline-brand-500 disabled:cursor-not-allowed ${BUTTON_KINDS[kind]} ${className}`;
}

export function Button({
  kind = "primary",
  className = "",
  ...props
}: ButtonHTMLAttributes<HTMLButtonElement> & { kind?: ButtonKind }) {
  return (
    <button className={buttonClass(kind, className)} {...props}
    />
  );
}

export function Field({
  label,
  hint,
  error,
  ...props
}: InputHTMLAttributes<HTMLInputElement> & { label: string; hint?: ReactNode; error?: string | null }) {
  return (
    <label className="block">
      <span className="mb-1 block text-sm font-medium text-slate-700 dark:text-slate-300">{label}</span>
      <input
        className="block min-h-11 w-full rounded-lg border border-slate-300 bg-white px-3 text-base text-slate-900 shadow-sm outline-none placeholder:text-slate-400 focus:border-brand-500 focus:ring-2 focus:ring-brand-500/30 dark:border-slate-700 dark:bg-slate-900 dark:text-slate-100"
        aria-invalid={error ? true : undefined}
        {...props}
      />
      {hint && !error ? <span className="mt-1 block text-xs text-slate-500 dark:text-slate-400">{hint}</span> : null}
      {error ? <span className="mt-1 block text-sm text-red-600 dark:text-red-400">{error}</span> : null}
    </label>
  );
}

export function Card({ title, action, children }: { title?: ReactNode; action?: ReactNode; children: ReactNode }) {
  return (
    <section className="rounded-xl border border-slate-200 bg-white p-4 shadow-sm sm:p-6 dark:border-slate-800 dark:bg-slate-900">
      {title || action ? (
        <div className="mb-4 flex flex-wrap items-center justify-between gap-2">
          {title ? <h2 className="text-lg font-semibold">{title}</h2> : <span />}
          {action}
        </div>
      ) : null}
      {children}
    </section>
  );
}

type NoticeKind = "error" | "success" | "info";

const NOTICE_KINDS: Record<NoticeKind, string> = {
  error: "border-red-300 bg-red-50 text-red-800 dark:border-red-900 dark:bg-red-950/60 dark:text-red-200",
  success:
    "border-emerald-300 bg-emerald-50 text-emerald-800 dark:border-emerald-900 dark:bg-emerald-950/60 dark:text-emerald-200",
  info: "border-slate-300 bg-slate-50 text-slate-700 dark:border-slate-700 dark:bg-slate-800/60 dark:text-slate-200",
};

export function Notice({ kind = "info", children }: { kind?: NoticeKind; children: ReactNode }) {
  return (
    <div role={kind === "error" ? "alert" : "status"} className={`rounded-lg border px-3 py-2 text-sm ${NOTICE_KINDS[kind]}`}>
      {children}
    </div>
  );
}

export function PageTitle({ children, subtitle }: { children: ReactNode; subtitle?: ReactNode }) {
  return (
    <div className="mb-6">
      <h1 className="text-2xl font-semibold tracking-tight">{children}</h1>
      {subtitle ? <p className="mt-1 text-sm text-slate-600 dark:text-slate-400">{subtitle}</p> : null}
    </div>
  );
}

/** A secret shown once (a token, recovery codes), selectable, wrapped rather than overflowing. */
export function SecretBox({ children, label }: { children: ReactNode; label: string }) {
  return (
    <pre
      aria-label={label}
      className="overflow-x-auto rounded-lg bg-slate-900 p-3 font-mono text-sm [overflow-wrap:anywhere] whitespace-pre-wrap text-emerald-200 select-all"
    >
      {children}
    </pre>
  );
}

/** One choice of a radio group: its label, and a line on what it means. */
export function RadioChoice({
  name,
  checked,
  onChange,
  label,
  hint,
  disabled,
  className = "flex cursor-pointer gap-2 text-sm",
}: {
  name: string;
  checked: boolean;
  onChange: () => void;
  label: ReactNode;
  hint: ReactNode;
  disabled?: boolean;
  className?: string;
}) {
  return (
    <label className={className}>
      <input type="radio" name={name} checked={checked} disabled={disabled} onChange={onChange} className="mt-1" />
      <span>
        <span className="font-medium">{label}</span>
        <span className="block text-xs text-slate-600 dark:text-slate-400">{hint}</span>
      </span>
    </label>
  );
}
