// The small set of errors domain modules throw. Each carries a sentence a user can act on;
// the tRPC layer maps the class to a status (server/trpc/init.ts).

export class DomainError extends Error {
  constructor(message: string) {
    super(message);
    this.name = new.target.name;
  }
}

/** The record does not exist, or is not the caller's (the two are never told apart). */
export class NotFoundError extends DomainError {}

/** The request clashes with existing state, e.g. a name already in use. */
export class ConflictError extends DomainError {}

/** Input that passed the schema but breaks a rule, e.g. a common password. */
export class InvalidInputError extends DomainError {}

/** A sensitive action whose password or code confirmation failed. */
export class IdentityNotConfirmedError extends DomainError {}

/** Too many attempts; `retryAt` says when to try again. */
export class RateLimitedError extends DomainError {
  constructor(
    message: string,
    readonly retryAt: Date,
  ) {
    super(message);
  }
}

/** No valid credential came with the request. */
export class NotAuthenticatedError extends DomainError {}

/** The credential is valid but does not reach this record (an agent writing to another machine). */
export class ForbiddenError extends DomainError {}
