"use client";
import { useMutation } from "@tanstack/react-query";
import { signOut } from "next-auth/react";
import { useTRPC } from "../_trpc/client";

export function SignOutButton() {
  const trpc = useTRPC();
  const endSession = useMutation(trpc.account.signOut.mutationOptions());
  return (
    <button
      type="button"
      className="rounded-lg px-2 py-2 text-sm font-medium text-slate-700 hover:bg-slate-100 sm:px-3 dark:text-slate-300 dark:hover:bg-slate-800"
      onClick={async () => {
        // End the session on the server first (audited, with this device's address), then clear the cookie.
        await endSession.mutateAsync().catch(() => undefined);
        await signOut({ redirectTo: "/signin" });
      }}
    >
      Sign out
    </button>
  );
}
