// Password length limits, shared by the wire schemas and the policy (no server dependencies).
export const PASSWORD_MIN_LENGTH = 12;
/** argon2 hashes any length, but a megabyte-long "password" is a denial of service, not a secret. */
export const PASSWORD_MAX_LENGTH = 256;
