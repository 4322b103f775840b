import type { Metadata } from "next";
import { Logo } from "../_components/logo";
import { RetryButton } from "./retry-button";

export const metadata: Metadata = { title: "Offline" };

// Static, so the service worker can precache it and show it when the network is gone.
export const dynamic = "force-static";

export default function OfflinePage() {
  return (
    <main className="flex min-h-dvh flex-col items-center justify-center gap-4 px-6 text-center">
      <Logo className="h-14 w-14" />
      <h1 className="text-2xl font-semibold">You’re offline</h1>
      <p className="max-w-sm text-sm text-slate-600 dark:text-slate-400">
        Twinboot needs a connection to reach your machines. Check your Wi-Fi or mobile data; this page reloads by
        itself when you’re back online.
      </p>
      <RetryButton />
    </main>
  );
}
