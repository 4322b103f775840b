// The one map from errors to answers. Each domain error class carries its tRPC code and HTTP
// status (server/errors.ts); a malformed extent stream and a ZodError are bad input; anything
// else is unexpected: logged, and answered with a generic sentence. tRPC (trpc/init.ts), the
// agent API, the download routes and the console relay all answer through here.
import type { TRPC_ERROR_CODE_KEY } from "@trpc/server";
import { ZodError } from "zod";
import { MalformedExtentStreamError } from "@/wire/extent-stream";
import { DomainError } from "./errors";
import { plainError } from "./http/plain-error";

/** What an unexpected error is answered with when the caller names nothing better. */
export const INTERNAL_MESSAGE = "Something went wrong on our side. Try again; if it keeps happening, tell your administrator.";

/** Whether the error is one of ours, with a sentence meant for the caller. */
export function isExpectedError(error: unknown): error is DomainError | MalformedExtentStreamError | ZodError {
  return error instanceof DomainError || error instanceof MalformedExtentStreamError || error instanceof ZodError;
}

export function trpcCodeOf(error: unknown): TRPC_ERROR_CODE_KEY {
  if (error instanceof DomainError) return (error.constructor as typeof DomainError).trpcCode;
  if (error instanceof MalformedExtentStreamError || error instanceof ZodError) return "BAD_REQUEST";
  return "INTERNAL_SERVER_ERROR";
}

export function httpStatusOf(error: unknown): number {
  if (error instanceof DomainError) return (error.constructor as typeof DomainError).httpStatus;
  if (error instanceof MalformedExtentStreamError || error instanceof ZodError) return 400;
  return 500;
}

/** A ZodError as one sentence: the first issue, after the field it is about. */
function describeZodError(error: ZodError): string {
  const issue = error.issues[0];
  const field = issue?.path.join(".");
  return `${field ? `${field}: ` : ""}${issue?.message ?? "invalid request"}`;
}

/** The sentence the caller sees: the error's own when expected, `internalMessage` otherwise. */
export function publicMessageOf(error: unknown, internalMessage = INTERNAL_MESSAGE): string {
  if (error instanceof ZodError) return describeZodError(error);
  if (isExpectedError(error)) return error.message;
  return internalMessage;
}

export interface HttpAnswer {
  /** JSON `{ error }` (the agent API), or one line of plain text (links opened as downloads). */
  format?: "json" | "text";
  /** Logged before an unexpected error, e.g. "image export failed". */
  logAs?: string;
  /** The sentence for an unexpected error. */
  internalMessage?: string;
}

/** The HTTP answer for a failed request; an unexpected error is logged and never shown. */
export function toHttpResponse(error: unknown, { format = "json", logAs = "request failed", internalMessage }: HttpAnswer = {}): Response {
  // Unhandled errors are not user-facing, so we don't expose the actual error.
  if (!isExpectedError(error)) console.error(`${logAs}:`, error);
  const status = httpStatusOf(error);
  const message = publicMessageOf(error, internalMessage);
  if (format === "json") return Response.json({ error: message }, { status });
  return plainError(status, message);
}
