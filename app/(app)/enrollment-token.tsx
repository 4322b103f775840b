"use client";
import { SecretBox } from "../_components/ui";

/** A freshly issued enrollment token with the agent command that uses it. Shown once. */
export function EnrollmentToken({ token, expiresAt }: { token: string; expiresAt: Date | null }) {
  const server = typeof window === "undefined" ? "" : window.location.origin;
  return (
    <div className="space-y-2">
      <p className="text-sm">
        On the computer, run the Twinboot agent with this one-time token. It is shown only now
        {expiresAt ? <> and expires {expiresAt.toLocaleString()}</> : null}.
      </p>
      <SecretBox label="Enrollment command">{`twinboot-agent enroll --server ${server} --token ${token}`}</SecretBox>
    </div>
  );
}
