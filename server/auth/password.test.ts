import { describe, expect, it } from "vitest";
import { hashPassword, passwordProblem, verifyPassword } from "./password";

describe("password hashing", () => {
  it("hashes with argon2id and verifies the same password only", async () => {
    const hash = await hashPassword("correct horse battery staple");
    expect(hash).toMatch(/^\$argon2id\$v=19\$m=19456,t=2,p=1\$/);
    expect(await verifyPassword(hash, "correct horse battery staple")).toBe(true);
    expect(await verifyPassword(hash, "correct horse battery stapler")).toBe(false);
  });

  it("salts each hash, so equal passwords give different hashes", async () => {
    expect(await hashPassword("same password twice")).not.toBe(await hashPassword("same password twice"));
  });

  it("treats a malformed stored hash as a mismatch instead of throwing", async () => {
    expect(await verifyPassword("not-a-hash", "whatever")).toBe(false);
  });
});

describe("password policy", () => {
  it("refuses passwords shorter than 12 characters", () => {
    expect(passwordProblem("short1!")).toMatch(/at least 12/);
  });

  it("refuses passwords from the common-password list, whatever their case", () => {
    expect(passwordProblem("1q2w3e4r5t6y")).toMatch(/common passwords/);
    expect(passwordProblem("QAZWSXEDCRFV")).toMatch(/common passwords/);
  });

  it("refuses a password that repeats one or two characters", () => {
    expect(passwordProblem("abababababababab")).toMatch(/repeats/);
  });

  it("refuses a password built from the email's local part", () => {
    expect(passwordProblem("margaret-hamilton-1969", "margaret@example.com")).toMatch(/email/);
  });

  it("refuses absurdly long passwords", () => {
    expect(passwordProblem("x".repeat(300) + "yz")).toMatch(/at most/);
  });

  it("accepts a long, uncommon passphrase", () => {
    expect(passwordProblem("violet tram quietly folds", "ada@example.com")).toBeNull();
  });
});
