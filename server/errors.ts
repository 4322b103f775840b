// The small set of errors domain modules throw. Each carries a sentence a user can act on, and
// its class says how it is answered: a tRPC code and an HTTP status (mapped in server/error-map.ts).
import type { TRPC_ERROR_CODE_KEY } from "@trpc/server";

export class DomainError extends Error {
  static readonly trpcCode: TRPC_ERROR_CODE_KEY = "INTERNAL_SERVER_ERROR";
  static readonly httpStatus: number = 500;

  constructor(message: string) {
    super(message);
    this.name = new.target.name;
  }
}

/** The record does not exist, or is not the caller's (the two are never told apart). */
export class NotFoundError extends DomainError {
  static override readonly trpcCode = "NOT_FOUND";
  static override readonly httpStatus = 404;
}

/** The request clashes with existing state, e.g. a name already in use. */
export class ConflictError extends DomainError {
  static override readonly trpcCode = "CONFLICT";
  static override readonly httpStatus = 409;
}

/** Input that passed the schema but breaks a rule, e.g. a common password. */
export class InvalidInputError extends DomainError {
  static override readonly trpcCode = "BAD_REQUEST";
  static override readonly httpStatus = 400;
}

/** A sensitive action whose password or code confirmation failed. */
export class IdentityNotConfirmedError extends DomainError {
  static override readonly trpcCode = "FORBIDDEN";
  static override readonly httpStatus = 403;
}

/** Too many attempts; `retryAt` says when to try again. */
export class RateLimitedError extends DomainError {
  static override readonly trpcCode = "TOO_MANY_REQUESTS";
  static override readonly httpStatus = 429;

  constructor(
    message: string,
    readonly retryAt: Date,
  ) {
    super(message);
  }
}

/** No valid credential came with the request. */
export class NotAuthenticatedError extends DomainError {
  static override readonly trpcCode = "UNAUTHORIZED";
  static override readonly httpStatus = 401;
}

/** The credential is valid but does not reach this record (an agent writing to another machine). */
export class ForbiddenError extends DomainError {
  static override readonly trpcCode = "FORBIDDEN";
  static override readonly httpStatus = 403;
}

/** A hypervisor host did not answer, or did not do what was asked of it. */
export class HostUnreachableError extends DomainError {
  static override readonly trpcCode = "BAD_GATEWAY";
  static override readonly httpStatus = 502;
}
