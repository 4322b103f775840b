import type { Metadata } from "next";
import { redirect } from "next/navigation";
import { currentSessionUser } from "@/server/auth/session-user";
import { Logo } from "../_components/logo";
import { SignInForm } from "./sign-in-form";

export const metadata: Metadata = { title: "Sign in" };

export default async function SignInPage({ searchParams }: { searchParams: Promise<{ next?: string }> }) {
  if (await currentSessionUser()) redirect("/");
  const { next } = await searchParams;
  // Only local paths: a sign-in link must not bounce the user to another site.
  const returnTo = next && next.startsWith("/") && !next.startsWith("//") ? next : "/";
  return (
    <main className="flex min-h-dvh items-center justify-center px-4 py-10">
      <div className="w-full max-w-sm">
        <div className="mb-8 flex flex-col items-center gap-3 text-center">
          <Logo className="h-14 w-14" />
          <h1 className="text-2xl font-semibold tracking-tight">Sign in to Twinboot</h1>
          <p className="text-sm text-slate-600 dark:text-slate-400">Your office computer, in any browser.</p>
        </div>
        <SignInForm returnTo={returnTo} />
      </div>
    </main>
  );
}
