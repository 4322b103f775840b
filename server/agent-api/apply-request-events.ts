// Server-sent events for `twinboot-agent run` (…/apply-requests/events): the open requests at
// once, then again whenever one is recorded for this machine (Postgres NOTIFY, so whichever
// server process recorded it), and a comment every 20 s so proxies and the agent know the
// connection is alive.
import { openRequestsFor } from "@/server/apply-back/agent-requests";
import { onApplyRequest } from "@/server/apply-back/notifications";
import { APPLY_REQUESTS_EVENT } from "@/wire/apply-back";
import { withAgent } from "./agent-route";
import { assertSameMachine } from "./authenticate-agent";

const KEEPALIVE_MS = 20_000;

export function serveApplyRequestEvents(req: Request, { machineId }: { machineId: string }): Promise<Response> {
  return withAgent(req, async (agent) => {
    assertSameMachine(agent, machineId);
    const encoder = new TextEncoder();
    let closed = false;
    let stop = () => void (closed = true);
    const body = new ReadableStream<Uint8Array>({
      async start(controller) {
        const write = (text: string) => {
          if (closed) return;
          try {
            controller.enqueue(encoder.encode(text));
          } catch {
            stop(); // the stream went away under us
          }
        };
        // Notices that arrive while a snapshot is being read are folded into one more snapshot.
        let sending: Promise<void> | null = null;
        let again = false;
        const sendSnapshot = () => {
          if (sending) return void (again = true);
          sending = (async () => {
            do {
              again = false;
              const requests = await openRequestsFor(agent);
              write(`event: ${APPLY_REQUESTS_EVENT}\ndata: ${JSON.stringify({ requests })}\n\n`);
            } while (again && !closed);
          })()
            .catch((error: unknown) => console.error(`Telling machine ${agent.id} of its apply-back requests failed:`, error))
            .finally(() => (sending = null));
        };
        const unsubscribe = await onApplyRequest(agent.id, sendSnapshot);
        const keepalive = setInterval(() => write(": keepalive\n\n"), KEEPALIVE_MS);
        let stopped = false;
        stop = () => {
          if (stopped) return;
          stopped = closed = true;
          clearInterval(keepalive);
          unsubscribe();
          try {
            controller.close();
          } catch {
            // already closed by the client going away
          }
        };
        // The agent may have gone while the subscription was being made.
        if (closed || req.signal.aborted) return stop();
        req.signal.addEventListener("abort", () => stop(), { once: true });
        sendSnapshot();
      },
      cancel() {
        stop();
      },
    });
    return new Response(body, {
      headers: { "content-type": "text/event-stream; charset=utf-8", "cache-control": "no-cache, no-transform", "x-accel-buffering": "no" },
    });
  });
}
