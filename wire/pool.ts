// What an administrator gives to register a hypervisor host, checked the same way from the CLI and the admin page.
import { z } from "zod";

export const ZHostNameSchema = z
  .string()
  .trim()
  .regex(/^[a-z0-9][a-z0-9-]{0,39}$/, "A host name is 1–40 lowercase letters, digits and dashes, starting with a letter or digit.");

export const ZAddHostSchema = z.object({
  name: ZHostNameSchema,
  ssh: z.string().trim().min(3, "Give the SSH login as user@host or user@host:port."),
  privateKey: z
    .string()
    .refine((key) => /-----BEGIN [A-Z ]*PRIVATE KEY-----/.test(key), "That is not a private key in OpenSSH or PEM format (-----BEGIN … PRIVATE KEY-----)."),
  libvirtUri: z
    .string()
    .regex(/^qemu(\+\w+)?:\/\/[^\s]*\/(system|session)$/, "The libvirt URI is qemu:///system (or qemu:///session for a user's own libvirt).")
    .optional(),
  expectedFingerprint: z
    .string()
    .regex(/^SHA256:[A-Za-z0-9+/]{43}$/, "A host key fingerprint looks like SHA256: followed by 43 characters, as ssh-keygen -lf prints it.")
    .optional(),
});
export type TAddHost = z.infer<typeof ZAddHostSchema>;
