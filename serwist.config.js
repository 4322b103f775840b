// Serwist's build step (run by `npm run build` after `next build`): bundles app/sw.ts into
// public/sw.js with the precache manifest of Next's static output and the offline page.
import { generateGlobPatterns, serwist } from "@serwist/next/config";

export default serwist({
  swSrc: "app/sw.ts",
  swDest: "public/sw.js",
  precachePrerendered: false,
  globPatterns: [...generateGlobPatterns(".next/"), ".next/server/app/offline.html"],
  globIgnores: ["public/sw.js", "public/sw.js.map"],
});
