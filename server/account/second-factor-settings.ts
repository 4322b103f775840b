// Turning the TOTP second factor on (scan a QR code, confirm a code, receive recovery codes)
// and off, and replacing the recovery codes.
import { and, eq, isNotNull, isNull } from "drizzle-orm";
import QRCode from "qrcode";
import { db, type Transaction } from "@/db/client";
import { recoveryCodes, users } from "@/db/schema";
import { recordAudit } from "@/server/audit/record-audit";
import { confirmIdentity } from "@/server/auth/confirm-identity";
import { TOTP_SECRET_PURPOSE } from "@/server/auth/second-factor";
import { openSecret, sealSecret } from "@/server/auth/secret-box";
import { hashRecoveryCode, newRecoveryCodes, newTotpSecret, totpUri, verifyTotp } from "@/server/auth/totp";
import { ConflictError, InvalidInputError } from "@/server/errors";
import type { RequestMeta } from "@/server/request-meta";
import type { TIdentityProof } from "@/wire/account";


/** Starts setup: a new secret, kept pending until a code from it is confirmed. */
export async function beginTotpSetup(user: { id: string; email: string }, proof: TIdentityProof, meta: RequestMeta) {
  await confirmIdentity(user.id, proof, meta);
  const secret = newTotpSecret();
  const updated = await db()
    .update(users)
    .set({ totpPendingSecret: sealSecret(secret, TOTP_SECRET_PURPOSE) })
    .where(and(eq(users.id, user.id), isNull(users.totpSecret)))
    .returning({ id: users.id });
  if (updated.length === 0) throw new ConflictError("Two-step sign-in is already on.");
  const uri = totpUri(secret, user.email);
  // An SVG data URL, shown in an <img>: the QR code is never inserted as markup.
  const qrSvg = await QRCode.toString(uri, { type: "svg", margin: 1, errorCorrectionLevel: "M" });
  return { uri, secret, qrDataUrl: `data:image/svg+xml;base64,${Buffer.from(qrSvg).toString("base64")}` };
}

/** Finishes setup with a code from the app; returns the recovery codes, shown this once. */
export async function confirmTotpSetup(userId: string, code: string, meta: RequestMeta): Promise<string[]> {
  return db().transaction(async (tx) => {
    const [user] = await tx.select().from(users).where(eq(users.id, userId)).for("update");
    if (!user?.totpPendingSecret) throw new ConflictError("Start again: there is no two-step setup in progress.");
    const step = verifyTotp(openSecret(user.totpPendingSecret, TOTP_SECRET_PURPOSE), code, null);
    if (step === null) {
      throw new InvalidInputError("That code does not match. Check the time on your phone and enter the current code.");
    }
    await tx
      .update(users)
      .set({ totpSecret: user.totpPendingSecret, totpPendingSecret: null, totpLastStep: step })
      .where(eq(users.id, userId));
    const codes = await replaceRecoveryCodes(tx, userId);
    await recordAudit(tx, { userId, action: "totp_enabled", meta });
    return codes;
  });
}

export async function disableTotp(userId: string, proof: TIdentityProof, meta: RequestMeta): Promise<void> {
  await confirmIdentity(userId, proof, meta);
  await db().transaction(async (tx) => {
    const off = await tx
      .update(users)
      .set({ totpSecret: null, totpPendingSecret: null, totpLastStep: null })
      .where(and(eq(users.id, userId), isNotNull(users.totpSecret)))
      .returning({ id: users.id });
    if (off.length === 0) throw new ConflictError("Two-step sign-in is already off.");
    await tx.delete(recoveryCodes).where(eq(recoveryCodes.userId, userId));
    await recordAudit(tx, { userId, action: "totp_disabled", meta });
  });
}

export async function regenerateRecoveryCodes(userId: string, proof: TIdentityProof, meta: RequestMeta) {
  await confirmIdentity(userId, proof, meta);
  return db().transaction(async (tx) => {
    const [user] = await tx.select().from(users).where(eq(users.id, userId)).for("update");
    if (!user?.totpSecret) throw new ConflictError("Turn on two-step sign-in first.");
    const codes = await replaceRecoveryCodes(tx, userId);
    await recordAudit(tx, { userId, action: "recovery_codes_regenerated", meta });
    return codes;
  });
}

async function replaceRecoveryCodes(tx: Transaction, userId: string): Promise<string[]> {
  const codes = newRecoveryCodes();
  await tx.delete(recoveryCodes).where(eq(recoveryCodes.userId, userId));
  await tx.insert(recoveryCodes).values(codes.map((code) => ({ userId, codeHash: hashRecoveryCode(code) })));
  return codes;
}
