// The console's WebSocket as both ends know it: where it is, the subprotocols that carry the
// ticket, and the close codes the relay (server/console/relay.ts) ends a console with, which the
// viewer (app/(app)/sessions/[sessionId]/console/) reads instead of the reason's text.

export const CONSOLE_PATH = "/api/console";
export const CONSOLE_SUBPROTOCOL = "twinboot.console";
/** The ticket travels as the subprotocol value `twinboot.ticket.<ticket>`: never in a URL. */
export const TICKET_SUBPROTOCOL_PREFIX = "twinboot.ticket.";

/** Close codes (RFC 6455 §7.4.1) the relay uses; the reason beside each is for people only. */
export const CONSOLE_CLOSE_CODES = {
  /** The browser closed, or the VM's screen closed (the VM stopped). */
  closed: 1000,
  /** The browser stopped answering pings. */
  browserSilent: 1001,
  /** The browser's connection or the one to the VM's host failed. */
  connectionFailed: 1011,
} as const;
export type ConsoleCloseCode = (typeof CONSOLE_CLOSE_CODES)[keyof typeof CONSOLE_CLOSE_CODES];

/** Ticket refusals after which there is nothing to reconnect to: the session is gone or its VM stopped. */
export const CONSOLE_ENDED_TRPC_CODES: readonly string[] = ["NOT_FOUND", "CONFLICT"];
