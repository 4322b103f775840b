"use client";
// Registers the service worker (built by Serwist from app/sw.ts into /sw.js) in production.
import { useEffect } from "react";

export function ServiceWorkerRegistration() {
  useEffect(() => {
    if (process.env.NODE_ENV !== "production" || !("serviceWorker" in navigator)) return;
    navigator.serviceWorker.register("/sw.js", { scope: "/" }).catch((error: unknown) => {
      console.warn("Service worker registration failed; the app works, but not offline.", error);
    });
  }, []);
  return null;
}
