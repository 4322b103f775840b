// Wire schemas for accounts: sign-in, settings and identity confirmation.
import { z } from "zod";
import { PASSWORD_MAX_LENGTH } from "@/wire/password-limits";

export const ZEmailSchema = z
  .string()
  .trim()
  .max(320, "That email address is too long.")
  .pipe(z.email("Enter an email address like name@example.com."));

export const ZSignInRequestSchema = z.object({
  email: ZEmailSchema,
  password: z.string().min(1, "Enter your password.").max(PASSWORD_MAX_LENGTH),
  secondFactor: z
    .string()
    .trim()
    .max(32)
    .optional()
    .transform((v) => v || undefined),
});
export type TSignInRequest = z.infer<typeof ZSignInRequestSchema>;

/** Proof for a sensitive action: the current password, or a TOTP or recovery code. */
export const ZIdentityProofSchema = z
  .object({
    password: z.string().max(PASSWORD_MAX_LENGTH).optional(),
    code: z.string().trim().max(32).optional(),
  })
  .refine((p) => Boolean(p.password || p.code), {
    message: "Confirm with your password or an authenticator code.",
  });
export type TIdentityProof = z.infer<typeof ZIdentityProofSchema>;

export const ZChangePasswordRequestSchema = z.object({
  currentPassword: z.string().min(1, "Enter your current password.").max(PASSWORD_MAX_LENGTH),
  newPassword: z.string().max(PASSWORD_MAX_LENGTH, `Use at most ${PASSWORD_MAX_LENGTH} characters.`),
});

export const ZConfirmTotpRequestSchema = z.object({
  code: z.string().trim().regex(/^\d{6}$/, "Enter the 6-digit code your authenticator app shows."),
});

export const ZRevokeSessionRequestSchema = z.object({ sessionId: z.uuid("That is not a session id.") });
