// High-entropy bearer tokens (enrollment tokens, recovery codes): random, shown once, stored as sha256.
// sha256 suffices here because the tokens carry 128+ bits of entropy; passwords use argon2id.
import { createHash, randomBytes } from "node:crypto";

export function newToken(prefix: string, bytes = 32): string {
  return `${prefix}${randomBytes(bytes).toString("base64url")}`;
}

export function hashToken(token: string): string {
  return createHash("sha256").update(token).digest("hex");
}
