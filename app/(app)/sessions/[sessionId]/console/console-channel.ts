// The console's WebSocket as noVNC sees it: binary frames go to and from the VM's VNC server
// through the relay (server/console/relay.ts); text frames are the relay's own — "ping <t>"
// answered with "pong <t>" — and never reach noVNC. They measure the round trip to the server.
import type { RfbChannel } from "@novnc/novnc";
import { CONSOLE_PATH, CONSOLE_SUBPROTOCOL, TICKET_SUBPROTOCOL_PREFIX } from "@/wire/console";
const PING_EVERY_MS = 2000;

export class ConsoleChannel implements RfbChannel {
  private readonly socket: WebSocket;
  private pinger: ReturnType<typeof setInterval> | null = null;
  onopen: ((event: Event) => void) | null = null;
  onmessage: ((event: MessageEvent) => void) | null = null;
  onclose: ((event: CloseEvent) => void) | null = null;
  onerror: ((event: Event) => void) | null = null;

  /** `onRoundTrip` hears each measured round trip, in milliseconds. */
  constructor(ticket: string, onRoundTrip: (ms: number) => void) {
    const url = new URL(CONSOLE_PATH, window.location.href);
    url.protocol = url.protocol === "https:" ? "wss:" : "ws:";
    // The ticket travels as a subprotocol value: never in the URL, history or logs.
    this.socket = new WebSocket(url, [CONSOLE_SUBPROTOCOL, `${TICKET_SUBPROTOCOL_PREFIX}${ticket}`]);
    this.socket.binaryType = "arraybuffer";
    this.socket.onopen = (event) => {
      this.pinger = setInterval(() => this.socket.readyState === WebSocket.OPEN && this.socket.send(`ping ${performance.now()}`), PING_EVERY_MS);
      this.onopen?.(event);
    };
    this.socket.onmessage = (event: MessageEvent) => {
      if (typeof event.data === "string") {
        const sent = /^pong ([\d.]+)$/.exec(event.data);
        if (sent) onRoundTrip(performance.now() - Number(sent[1]));
        return;
      }
      this.onmessage?.(event);
    };
    this.socket.onclose = (event) => {
      if (this.pinger) clearInterval(this.pinger);
      this.onclose?.(event);
    };
    this.socket.onerror = (event) => this.onerror?.(event);
  }

  get binaryType(): string {
    return this.socket.binaryType;
  }
  set binaryType(type: string) {
    this.socket.binaryType = type as BinaryType;
  }
  get protocol(): string {
    return this.socket.protocol;
  }
  get readyState(): number {
    return this.socket.readyState;
  }
  send(data: ArrayBuffer | ArrayBufferView<ArrayBuffer>): void {
    this.socket.send(data);
  }
  close(code?: number, reason?: string): void {
    this.socket.close(code, reason);
  }
}
