import { describe, expect, it } from "vitest";
import {
  hashRecoveryCode,
  looksLikeRecoveryCode,
  newRecoveryCodes,
  newTotpSecret,
  totpCode,
  totpUri,
  verifyTotp,
} from "./totp";

// RFC 6238 appendix B: the SHA-1 secret "12345678901234567890", 8-digit codes; we use 6 digits,
// which are the last six of the RFC's values.
const RFC_SECRET = "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ";

describe("TOTP", () => {
  it("produces the RFC 6238 test vectors", () => {
    expect(totpCode(RFC_SECRET, 59_000)).toBe("287082");
    expect(totpCode(RFC_SECRET, 1_111_111_109_000)).toBe("081804");
    expect(totpCode(RFC_SECRET, 1_234_567_890_000)).toBe("005924");
  });

  it("accepts the current code and returns its time step", () => {
    const secret = newTotpSecret();
    const now = 1_700_000_000_000;
    expect(verifyTotp(secret, totpCode(secret, now), null, now)).toBe(Math.floor(now / 30_000));
  });

  it("accepts a code one step old (clock drift) but not two", () => {
    const secret = newTotpSecret();
    const now = 1_700_000_000_000;
    expect(verifyTotp(secret, totpCode(secret, now - 30_000), null, now)).not.toBeNull();
    expect(verifyTotp(secret, totpCode(secret, now - 60_000), null, now)).toBeNull();
  });

  it("refuses a code whose step was already used, so a code works once", () => {
    const secret = newTotpSecret();
    const now = 1_700_000_000_000;
    const code = totpCode(secret, now);
    const step = verifyTotp(secret, code, null, now)!;
    expect(verifyTotp(secret, code, step, now)).toBeNull();
    expect(verifyTotp(secret, totpCode(secret, now + 30_000), step, now + 30_000)).toBe(step + 1);
  });

  it("refuses malformed and wrong codes", () => {
    const secret = newTotpSecret();
    expect(verifyTotp(secret, "12345", null)).toBeNull();
    expect(verifyTotp(secret, "abcdef", null)).toBeNull();
    const right = totpCode(secret);
    const wrong = String((Number(right) + 1) % 1_000_000).padStart(6, "0");
    expect(verifyTotp(secret, wrong, null)).toBeNull();
  });

  it("makes an otpauth URI for authenticator apps", () => {
    expect(totpUri(RFC_SECRET, "ada@example.com")).toBe(
      "otpauth://totp/Twinboot:ada%40example.com?issuer=Twinboot&secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ&algorithm=SHA1&digits=6&period=30",
    );
  });
});

describe("recovery codes", () => {
  it("makes ten distinct codes that are told apart from TOTP codes", () => {
    const codes = newRecoveryCodes();
    expect(new Set(codes).size).toBe(10);
    for (const code of codes) {
      expect(code).toMatch(/^[a-z2-9]{5}-[a-z2-9]{5}$/);
    }
    expect(codes.some(looksLikeRecoveryCode)).toBe(true);
    expect(looksLikeRecoveryCode("123456")).toBe(false);
  });

  it("hashes a code the same however it is typed", () => {
    expect(hashRecoveryCode("ABCDE-FGHJK")).toBe(hashRecoveryCode("abcdefghjk"));
    expect(hashRecoveryCode(" abcde fghjk ")).toBe(hashRecoveryCode("abcde-fghjk"));
  });
});
