// An error answer for a link the browser opens as a download: one sentence of plain text, never
// cached, never a stack trace.
export function plainError(status: number, message: string): Response {
  return new Response(`${message}\n`, { status, headers: { "content-type": "text/plain; charset=utf-8", "cache-control": "no-store" } });
}
