import { describe, expect, it } from "vitest";
import { isSameOrigin } from "./same-origin";

const app = "https://twinboot.example.com";
const headers = (origin?: string) => new Headers(origin ? { origin } : {});

describe("same-origin check for mutations", () => {
  it("accepts the app's own origin", () => {
    expect(isSameOrigin(headers("https://twinboot.example.com"), app)).toBe(true);
  });

  it("refuses another origin, another scheme or port, a missing or garbled Origin", () => {
    expect(isSameOrigin(headers("https://evil.example.com"), app)).toBe(false);
    expect(isSameOrigin(headers("http://twinboot.example.com"), app)).toBe(false);
    expect(isSameOrigin(headers("https://twinboot.example.com:8443"), app)).toBe(false);
    expect(isSameOrigin(headers(), app)).toBe(false);
    expect(isSameOrigin(headers("null"), app)).toBe(false);
  });
});
