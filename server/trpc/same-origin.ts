// CSRF defence for route handlers: a state-changing request must carry an Origin header equal
// to the app's own origin. Browsers always send Origin on cross-origin and on POST requests.
export function isSameOrigin(headers: Headers, appUrl: string): boolean {
  const origin = headers.get("origin");
  if (!origin) return false;
  try {
    return new URL(origin).origin === new URL(appUrl).origin;
  } catch {
    return false;
  }
}
