// Plays a hostile guest between the browser and the relay (a Playwright WebSocket route): the
// VNC server's desktop name is replaced, and a clipboard message (ServerCutText) is slipped in
// right after the server's init — the one place in the stream where a message boundary is known
// without parsing screen updates. Everything else passes through untouched, both ways.
import type { WebSocketRoute } from "playwright-core";

export function actAsHostileGuest(route: WebSocketRoute, strings: { desktopName: string; clipboard: string }): void {
  const server = route.connectToServer();
  let seen = Buffer.alloc(0); // the server's bytes so far, until the init has been rewritten
  let forwarded = 0;
  let rewritten = false;
  server.onMessage((message) => {
    if (typeof message === "string" || rewritten) return void route.send(message);
    seen = Buffer.concat([seen, message]);
    // Server side of an RFB 3.8 handshake with security None: version (12), security types
    // (1 + n), security result (4), then the server init (24 + name). Bytes before the init go
    // on at once (the browser answers each step); the init is held until it is whole.
    const initAt = seen.length > 12 ? 12 + 1 + seen[12]! + 4 : Infinity;
    const ready = seen.length >= initAt + 24 && seen.length >= initAt + 24 + seen.readUInt32BE(initAt + 20);
    if (!ready) {
      const upTo = Math.min(seen.length, initAt);
      if (upTo > forwarded) route.send(seen.subarray(forwarded, upTo));
      forwarded = upTo;
      return;
    }
    const nameLength = seen.readUInt32BE(initAt + 20);
    const name = Buffer.from(strings.desktopName, "utf8");
    const init = Buffer.from(seen.subarray(initAt, initAt + 24));
    init.writeUInt32BE(name.length, 20);
    const text = Buffer.from(strings.clipboard, "latin1");
    const cutText = Buffer.alloc(8);
    cutText.writeUInt8(3, 0); // ServerCutText
    cutText.writeUInt32BE(text.length, 4);
    route.send(Buffer.concat([seen.subarray(forwarded, initAt), init, name, cutText, text, seen.subarray(initAt + 24 + nameLength)]));
    rewritten = true;
  });
}
