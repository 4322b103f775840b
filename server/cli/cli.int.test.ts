// The `twinboot` CLI as a shell uses it: a reader that goes away after the first line (`| head`,
// `| grep -q`) ends its output quietly, as `ls | head` does — no EPIPE stack trace, exit 0 — so
// that a script's `pipefail` does not mistake it for a failure.
import { spawnSync } from "node:child_process";
import { inArray } from "drizzle-orm";
import { afterAll, describe, expect, it } from "vitest";
import { db } from "@/db/client";
import { users } from "@/db/schema";
import { createTestUser } from "@/server/testing/accounts";

const made: string[] = [];
afterAll(() => db().delete(users).where(inArray(users.id, made)));

describe("the twinboot CLI", () => {
  it("stops quietly when its reader goes away", async () => {
    // Enough rows that the output outlasts the first line the reader takes.
    for (let i = 0; i < 40; i++) made.push((await createTestUser()).id);
    const piped = spawnSync("bash", ["-o", "pipefail", "-c", "node bin/twinboot.mjs user list | head -n 1"], { encoding: "utf8" });
    expect(piped.stderr).not.toMatch(/EPIPE|\n\s+at /);
    expect(piped.status, piped.stderr).toBe(0);
    expect(piped.stdout.split("\n")[0]).toMatch(/^id\s+email/);
  }, 60_000);
});
