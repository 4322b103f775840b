import { describe, expect, it } from "vitest";
import { ZScheduleSchema, nextBackupAt, retryDelayMs } from "./schedule";

describe("backup schedule", () => {
  const at = (iso: string) => new Date(iso);

  it("turns keywords into times, local to the machine", () => {
    const after = at("2026-11-25T10:15:00");
    expect(nextBackupAt("hourly", after)).toEqual(at("2026-11-25T11:00:00"));
    expect(nextBackupAt("daily", after)).toEqual(at("2026-11-26T01:00:00"));
    expect(nextBackupAt("weekly", after)).toEqual(at("2026-11-29T01:00:00")); // a Sunday
  });

  it("takes cron expressions, with or without seconds", () => {
    expect(nextBackupAt("30 2 * * 1-5", at("2026-11-27T03:00:00"))).toEqual(at("2026-11-30T02:30:00")); // Friday → Monday
    expect(nextBackupAt("*/10 * * * * *", at("2026-11-25T10:15:01"))).toEqual(at("2026-11-25T10:15:10"));
  });

  it("is strictly after the given time", () => {
    expect(nextBackupAt("hourly", at("2026-11-25T11:00:00"))).toEqual(at("2026-11-25T12:00:00"));
  });

  it("refuses what is not a schedule, saying what is", () => {
    for (const bad of ["often", "61 * * * *", "", "* * *"]) {
      const parsed = ZScheduleSchema.safeParse(bad);
      expect(parsed.success, bad).toBe(false);
      expect(parsed.error?.issues[0]?.message).toMatch(/hourly.*cron expression/);
    }
    expect(ZScheduleSchema.safeParse("daily").success).toBe(true);
  });

  it("backs off from a minute up to half an hour", () => {
    expect([1, 2, 3, 4, 5, 6, 7].map((n) => retryDelayMs(n) / 60_000)).toEqual([1, 2, 4, 8, 16, 30, 30]);
  });
});
