/// <reference lib="webworker" />
// The service worker, built by Serwist (serwist.config.js) into public/sw.js after `next build`.
// It precaches the static shell (JS, CSS, icons, the offline page) and nothing else: tRPC, the
// auth and agent APIs, the console and every signed-in page always go to the network, and a
// navigation that fails offline gets the offline page.
import { NetworkOnly, Serwist, type PrecacheEntry, type SerwistGlobalConfig } from "serwist";

declare global {
  interface WorkerGlobalScope extends SerwistGlobalConfig {
    __SW_MANIFEST: (PrecacheEntry | string)[] | undefined;
  }
}
declare const self: ServiceWorkerGlobalScope;

const serwist = new Serwist({
  precacheEntries: self.__SW_MANIFEST,
  skipWaiting: true,
  clientsClaim: true,
  navigationPreload: false,
  runtimeCaching: [
    {
      // Pages carry a user's data: never cached, only replaced by the offline page when unreachable.
      matcher: ({ request }) => request.mode === "navigate",
      handler: new NetworkOnly(),
    },
  ],
  fallbacks: {
    entries: [{ url: "/offline", matcher: ({ request }) => request.destination === "document" }],
  },
});

serwist.addEventListeners();
