// The tRPC endpoint as a browser reaches it over HTTP: validation errors are readable, no stack
// traces leave the server, and mutations from another origin are refused.
import { fetchRequestHandler } from "@trpc/server/adapters/fetch";
import { describe, expect, it } from "vitest";
import { env } from "@/server/env";
import { createTestUser, requestHeaders, signedInCaller } from "@/server/testing/accounts";
import type { SessionUser } from "@/wire/identity";
import { createTRPCContext } from "./init";
import { appRouter } from "./root";

async function call(path: string, init: { method: "GET" | "POST"; body?: unknown; origin?: string; user: SessionUser | null }) {
  const headers = requestHeaders("192.0.2.50", init.origin ?? env().APP_URL);
  headers.set("content-type", "application/json");
  const url = new URL(`/api/trpc/${path}`, env().APP_URL);
  if (init.method === "GET" && init.body !== undefined) url.searchParams.set("input", JSON.stringify({ json: init.body }));
  const req = new Request(url, {
    method: init.method,
    headers,
    body: init.method === "POST" ? JSON.stringify({ json: init.body }) : undefined,
  });
  const res = await fetchRequestHandler({
    endpoint: "/api/trpc",
    req,
    router: appRouter,
    createContext: () => createTRPCContext({ headers: req.headers, user: init.user }),
  });
  const text = await res.text();
  return { status: res.status, text, json: JSON.parse(text) as { error?: { json: { message: string; data: Record<string, unknown> } } } };
}

describe("tRPC over HTTP", () => {
  it("answers malformed input with 400 and a sentence naming the field, without a stack trace", async () => {
    const { sessionUser } = await signedInCaller(await createTestUser());
    const res = await call("machines.get", { method: "GET", body: { machineId: "not-a-uuid" }, user: sessionUser });
    expect(res.status).toBe(400);
    expect(res.json.error?.json.message).toBe("machineId: That is not a machine id.");
    expect(res.json.error?.json.data.fieldErrors).toEqual({ machineId: ["That is not a machine id."] });
    expect(res.text).not.toMatch(/stack|at .*\.ts:\d+/);
  });

  it("answers a field of the wrong type with a clear 400", async () => {
    const { sessionUser } = await signedInCaller(await createTestUser());
    const res = await call("machines.create", { method: "POST", body: { name: 42 }, user: sessionUser });
    expect(res.status).toBe(400);
    expect(res.json.error?.json.message).toMatch(/^name: /);
  });

  it("refuses a mutation whose Origin is another site (CSRF) and changes nothing", async () => {
    const { caller, sessionUser } = await signedInCaller(await createTestUser());
    const res = await call("machines.create", {
      method: "POST",
      body: { name: "Planted by evil.example" },
      origin: "https://evil.example",
      user: sessionUser,
    });
    expect(res.status).toBe(403);
    expect(res.json.error?.json.message).toMatch(/did not come from Twinboot/);
    expect(await caller.machines.list()).toEqual([]);
  });

  it("refuses a signed-out caller with 401", async () => {
    const res = await call("machines.list", { method: "GET", user: null });
    expect(res.status).toBe(401);
    expect(res.json.error?.json.message).toBe("You are signed out. Sign in again to continue.");
  });

  it("maps domain errors to status codes with their own sentence", async () => {
    const { sessionUser } = await signedInCaller(await createTestUser());
    const res = await call("machines.get", {
      method: "GET",
      body: { machineId: "00000000-0000-4000-8000-000000000000" },
      user: sessionUser,
    });
    expect(res.status).toBe(404);
    expect(res.json.error?.json.message).toBe("No such machine. It may have been deleted.");
  });

  it("hides the details of unexpected errors", async () => {
    // A session user whose account does not exist makes the database refuse the insert (a
    // foreign-key violation): an internal error the user must not see the text of.
    const ghost: SessionUser = { id: "00000000-0000-4000-8000-00000000dead", email: "ghost@test", role: "user", sessionId: "x" };
    const res = await call("machines.create", { method: "POST", body: { name: "Haunted" }, user: ghost });
    expect(res.status).toBe(500);
    expect(res.json.error?.json.message).toMatch(/^Something went wrong on our side/);
    expect(res.text).not.toMatch(/foreign key|violates|postgres/i);
  });
});
