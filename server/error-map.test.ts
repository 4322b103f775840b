import { describe, expect, it, vi } from "vitest";
import { z } from "zod";
import { MalformedExtentStreamError } from "@/wire/extent-stream";
import * as errors from "./errors";
import { httpStatusOf, INTERNAL_MESSAGE, toHttpResponse, trpcCodeOf } from "./error-map";

const EXPECTED: Record<string, [string, number]> = {
  DomainError: ["INTERNAL_SERVER_ERROR", 500],
  NotFoundError: ["NOT_FOUND", 404],
  ConflictError: ["CONFLICT", 409],
  InvalidInputError: ["BAD_REQUEST", 400],
  IdentityNotConfirmedError: ["FORBIDDEN", 403],
  RateLimitedError: ["TOO_MANY_REQUESTS", 429],
  NotAuthenticatedError: ["UNAUTHORIZED", 401],
  ForbiddenError: ["FORBIDDEN", 403],
  HostUnreachableError: ["BAD_GATEWAY", 502],
};

function instanceOf(Kind: typeof errors.DomainError): errors.DomainError {
  return Object.is(Kind, errors.RateLimitedError) ? new errors.RateLimitedError("Wait.", new Date()) : new Kind("It happened.");
}

describe("the error map", () => {
  const kinds = Object.entries(errors).filter(([, value]) => value === errors.DomainError || (typeof value === "function" && value.prototype instanceof errors.DomainError));

  it("knows every DomainError subclass in server/errors.ts", () => {
    expect(kinds.map(([name]) => name).sort()).toEqual(Object.keys(EXPECTED).sort());
  });

  it.each(kinds)("maps %s to its tRPC code and HTTP status, answering its own sentence", async (name, Kind) => {
    const error = instanceOf(Kind as typeof errors.DomainError);
    const [code, status] = EXPECTED[name]!;
    expect(trpcCodeOf(error)).toBe(code);
    expect(httpStatusOf(error)).toBe(status);
    const res = toHttpResponse(error);
    expect(res.status).toBe(status);
    expect(await res.json()).toEqual({ error: error.message });
  });

  it("treats a malformed extent stream as bad input", async () => {
    const error = new MalformedExtentStreamError("The extent stream ends inside a frame header.");
    expect(trpcCodeOf(error)).toBe("BAD_REQUEST");
    expect(httpStatusOf(error)).toBe(400);
    const res = toHttpResponse(error, { format: "text" });
    expect(res.status).toBe(400);
    expect(await res.text()).toBe("The extent stream ends inside a frame header.\n");
  });

  it("treats a ZodError as bad input, naming the field", async () => {
    const result = z.object({ token: z.string() }).safeParse({});
    const res = toHttpResponse(result.error);
    expect(res.status).toBe(400);
    expect((await res.json()) as { error: string }).toEqual({ error: expect.stringMatching(/^token: /) as unknown });
  });

  it("answers an unknown error with 500 and the generic sentence, logging the error itself", async () => {
    const log = vi.spyOn(console, "error").mockImplementation(() => undefined);
    const error = new Error("connect ECONNREFUSED 10.0.0.5:5432");
    expect(trpcCodeOf(error)).toBe("INTERNAL_SERVER_ERROR");
    expect(httpStatusOf(error)).toBe(500);
    const res = toHttpResponse(error, { logAs: "image export failed" });
    expect(res.status).toBe(500);
    expect(await res.json()).toEqual({ error: INTERNAL_MESSAGE });
    expect(log).toHaveBeenCalledWith("image export failed:", error);
    log.mockRestore();
  });
});
