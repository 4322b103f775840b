import Link from "next/link";
import { redirect } from "next/navigation";
import type { ReactNode } from "react";
import { currentSessionUser } from "@/server/auth/session-user";
import { TRPCReactProvider } from "../_trpc/client";
import { Logo } from "../_components/logo";
import { SignOutButton } from "./sign-out-button";

// Signed-in pages are per user: never prerendered, never cached.
export const dynamic = "force-dynamic";

export default async function SignedInLayout({ children }: { children: ReactNode }) {
  const user = await currentSessionUser();
  if (!user) redirect("/signin");
  return (
    <TRPCReactProvider>
      <header className="sticky top-0 z-10 border-b border-slate-200 bg-white/90 backdrop-blur dark:border-slate-800 dark:bg-slate-950/90">
        <nav className="mx-auto flex h-14 max-w-5xl items-center gap-1 px-3 sm:gap-3 sm:px-6">
          <Link href="/" className="mr-auto flex items-center gap-2 font-semibold">
            <Logo className="h-7 w-7" />
            <span className="hidden sm:inline">Twinboot</span>
          </Link>
          <NavLink href="/">Machines</NavLink>
          {user.role === "admin" ? <NavLink href="/admin/users">Users</NavLink> : null}
          {user.role === "admin" ? <NavLink href="/admin/hosts">Hosts</NavLink> : null}
          <NavLink href="/settings">Settings</NavLink>
          <SignOutButton />
        </nav>
      </header>
      <main className="mx-auto max-w-5xl px-4 py-6 sm:px-6 sm:py-10">{children}</main>
    </TRPCReactProvider>
  );
}

function NavLink({ href, children }: { href: string; children: ReactNode }) {
  return (
    <Link
      href={href}
      className="rounded-lg px-2 py-2 text-sm font-medium text-slate-700 hover:bg-slate-100 sm:px-3 dark:text-slate-300 dark:hover:bg-slate-800"
    >
      {children}
    </Link>
  );
}
