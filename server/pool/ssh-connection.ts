// One SSH connection to a hypervisor host (ssh2). The host key must match the fingerprint pinned
// at registration, on every connection; keepalive notices a host that went away. Commands are
// given as argument arrays and quoted for the remote shell here, never assembled by callers.
import { createHash } from "node:crypto";
import { Client, type ClientChannel } from "ssh2";

export interface SshTarget {
  host: string;
  port: number;
  username: string;
  privateKey: string;
}

export interface CommandResult {
  code: number;
  stdout: string;
  /** stdout as bytes, for binary output. */
  output: Buffer;
  stderr: string;
}

/** The host presented another key than the pinned one: a different machine, or a reinstalled one. */
export class HostKeyMismatchError extends Error {}
/** The host could not be reached, refused the key, or the connection dropped. */
export class SshError extends Error {}

const CONNECT_TIMEOUT_MS = 10_000;
const KEEPALIVE_INTERVAL_MS = 10_000;
/** Three unanswered keepalives (30 s) and the connection counts as lost. */
const KEEPALIVE_COUNT_MAX = 3;
const DEFAULT_COMMAND_TIMEOUT_MS = 120_000;
const MAX_OUTPUT_BYTES = 16 * 1024 * 1024;

/** OpenSSH's notation, as `ssh-keygen -lf` prints it, so an admin can compare. */
export function fingerprintOf(hostKey: Buffer): string {
  return `SHA256:${createHash("sha256").update(hostKey).digest("base64").replace(/=+$/, "")}`;
}

/** One argument for a POSIX shell: left alone when it is plainly safe, single-quoted otherwise. */
export function shellQuote(arg: string): string {
  return /^[\w@%+=:,./-]+$/.test(arg) ? arg : `'${arg.replaceAll("'", `'\\''`)}'`;
}

export function describeTarget(target: Pick<SshTarget, "host" | "port" | "username">): string {
  return `${target.username}@${target.host}${target.port === 22 ? "" : `:${target.port}`}`;
}

export class SshConnection {
  private closed = false;
  private readonly closeListeners: (() => void)[] = [];

  private constructor(
    private readonly client: Client,
    readonly target: SshTarget,
    /** The host key's fingerprint, as it was seen when connecting. */
    readonly fingerprint: string,
  ) {
    client.on("close", () => {
      this.closed = true;
      for (const listener of this.closeListeners.splice(0)) listener();
    });
  }

  /**
   * Connects and checks the host key: with `pinnedFingerprint` null (registration), any key is
   * accepted and its fingerprint reported; otherwise only that key is.
   */
  static connect(target: SshTarget, pinnedFingerprint: string | null): Promise<SshConnection> {
    const where = describeTarget(target);
    return new Promise((resolve, reject) => {
      const client = new Client();
      let seen = "";
      let mismatch = false;
      client
        .once("ready", () => resolve(new SshConnection(client, target, seen)))
        .once("error", (error: Error & { level?: string }) => {
          if (mismatch) {
            return reject(
              new HostKeyMismatchError(
                `The SSH host key of ${where} has changed: it is now ${seen}, but ${pinnedFingerprint} was pinned when the host was added. Twinboot will not use this host until an administrator removes it and adds it again (after checking why the key changed).`,
              ),
            );
          }
          const why = error.level === "client-authentication" ? "it refused the key" : error.message;
          reject(new SshError(`Cannot connect to ${where} over SSH: ${why}.`));
        })
        .connect({
          host: target.host,
          port: target.port,
          username: target.username,
          privateKey: target.privateKey,
          readyTimeout: CONNECT_TIMEOUT_MS,
          keepaliveInterval: KEEPALIVE_INTERVAL_MS,
          keepaliveCountMax: KEEPALIVE_COUNT_MAX,
          hostVerifier: (key: Buffer) => {
            seen = fingerprintOf(key);
            mismatch = pinnedFingerprint !== null && seen !== pinnedFingerprint;
            return !mismatch;
          },
        });
    });
  }

  get isOpen(): boolean {
    return !this.closed;
  }

  onClose(listener: () => void): void {
    if (this.closed) listener();
    else this.closeListeners.push(listener);
  }

  /** Runs `argv` on the host; resolves with its exit code and output whatever the code. */
  exec(argv: string[], { stdin, timeoutMs = DEFAULT_COMMAND_TIMEOUT_MS }: { stdin?: string; timeoutMs?: number } = {}): Promise<CommandResult> {
    const command = argv.map(shellQuote).join(" ");
    const where = describeTarget(this.target);
    return new Promise((resolve, reject) => {
      if (this.closed) return reject(new SshError(`The SSH connection to ${where} is closed.`));
      this.client.exec(command, (error, channel) => {
        if (error) return reject(new SshError(`Cannot run a command on ${where}: ${error.message}.`));
        const stdout: Buffer[] = [];
        const stderr: Buffer[] = [];
        let size = 0;
        const keep = (into: Buffer[]) => (chunk: Buffer) => {
          size += chunk.length;
          if (size <= MAX_OUTPUT_BYTES) into.push(chunk);
        };
        const timer = setTimeout(() => {
          channel.close();
          reject(new SshError(`${argv[0]} on ${where} did not finish within ${timeoutMs / 1000} s.`));
        }, timeoutMs);
        let code: number | null = null;
        channel.on("data", keep(stdout));
        channel.stderr.on("data", keep(stderr));
        channel.on("exit", (exitCode: number | null) => (code = exitCode));
        channel.on("close", () => {
          clearTimeout(timer);
          if (code === null) return reject(new SshError(`The connection to ${where} dropped while ${argv[0]} ran.`));
          const output = Buffer.concat(stdout);
          resolve({ code, stdout: output.toString("utf8"), output, stderr: Buffer.concat(stderr).toString("utf8") });
        });
        channel.end(stdin);
      });
    });
  }

  /**
   * A stream to a UNIX socket on the host (OpenSSH's streamlocal forwarding): how a VM's VNC
   * socket is reached without any TCP port on the host.
   */
  openUnixSocket(socketPath: string): Promise<ClientChannel> {
    const where = describeTarget(this.target);
    return new Promise((resolve, reject) => {
      if (this.closed) return reject(new SshError(`The SSH connection to ${where} is closed.`));
      this.client.openssh_forwardOutStreamLocal(socketPath, (error, channel) => {
        if (error) return reject(new SshError(`Cannot open ${socketPath} on ${where}: ${error.message}.`));
        resolve(channel);
      });
    });
  }

  close(): void {
    this.client.end();
  }
}
