// The agent's side of the agent API: typed calls, one error type with the server's sentence,
// and retries with backoff while the server cannot be reached.
import { z } from "zod";
import {
  AGENT_API_PREFIX,
  ZAgentErrorSchema,
  ZAgentMachineStateSchema,
  ZEnrollResponseSchema,
  ZImageSummarySchema,
  ZUploadStateSchema,
  type TCreateUploadRequest,
} from "@/server/wire/agent";

export class ServerError extends Error {
  constructor(
    message: string,
    readonly status: number,
  ) {
    super(message);
  }
  /** 5xx and network failures are worth retrying; 4xx answers will not change. */
  get retryable(): boolean {
    return this.status === 0 || this.status >= 500;
  }
}

export interface RetryPolicy {
  attempts: number;
  firstDelayMs: number;
  onRetry?: (error: ServerError, delayMs: number) => void;
}

const NO_RETRY: RetryPolicy = { attempts: 1, firstDelayMs: 0 };

export class ServerClient {
  constructor(
    readonly server: string,
    private readonly credential?: string,
    private readonly retry: RetryPolicy = NO_RETRY,
  ) {}

  private async request<T>(schema: z.ZodType<T>, method: string, path: string, body?: BodyInit, contentType?: string): Promise<T> {
    let delay = this.retry.firstDelayMs;
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.once(schema, method, path, body, contentType);
      } catch (error) {
        if (!(error instanceof ServerError) || !error.retryable || attempt >= this.retry.attempts) throw error;
        this.retry.onRetry?.(error, delay);
        await new Promise((resolve) => setTimeout(resolve, delay));
        delay = Math.min(delay * 2, 60_000);
      }
    }
  }

  private async once<T>(schema: z.ZodType<T>, method: string, path: string, body?: BodyInit, contentType?: string): Promise<T> {
    const headers: Record<string, string> = {};
    if (this.credential) headers.authorization = `Bearer ${this.credential}`;
    if (contentType) headers["content-type"] = contentType;
    let res: Response;
    try {
      res = await fetch(new URL(`${AGENT_API_PREFIX}${path}`, this.server), { method, headers, body });
    } catch (error) {
      const cause = (error as { cause?: { code?: string } }).cause?.code ?? (error as Error).message;
      throw new ServerError(`The server at ${this.server} cannot be reached (${cause}).`, 0);
    }
    let json: unknown;
    try {
      json = await res.json();
    } catch {
      // The connection can drop after the status line (a server killed mid-answer): that is a
      // lost answer, to retry, not a malformed one.
      if (res.ok) throw new ServerError(`The connection to ${this.server} was lost while it answered.`, 0);
      json = null;
    }
    if (!res.ok) {
      const message = ZAgentErrorSchema.safeParse(json).data?.error ?? `The server answered ${res.status}.`;
      throw new ServerError(message, res.status);
    }
    return schema.parse(json);
  }

  enroll(token: string) {
    return this.request(ZEnrollResponseSchema, "POST", "/enroll", JSON.stringify({ token }), "application/json");
  }

  machineState(machineId: string) {
    return this.request(ZAgentMachineStateSchema, "GET", `/machines/${machineId}`);
  }

  createUpload(machineId: string, request: TCreateUploadRequest) {
    return this.request(ZUploadStateSchema, "POST", `/machines/${machineId}/uploads`, JSON.stringify(request), "application/json");
  }

  uploadState(machineId: string, uploadId: string) {
    return this.request(ZUploadStateSchema, "GET", `/machines/${machineId}/uploads/${uploadId}`);
  }

  putExtent(machineId: string, uploadId: string, extent: { offset: number; length: number; zero: boolean; sha256?: string }, data?: Buffer) {
    const query = new URLSearchParams({ offset: String(extent.offset), length: String(extent.length), zero: extent.zero ? "1" : "0" });
    if (extent.sha256) query.set("sha256", extent.sha256);
    return this.request(
      ZUploadStateSchema,
      "PUT",
      `/machines/${machineId}/uploads/${uploadId}/extents?${query}`,
      data ? new Blob([new Uint8Array(data.buffer as ArrayBuffer, data.byteOffset, data.byteLength)]) : undefined,
      "application/octet-stream",
    );
  }

  finalizeUpload(machineId: string, uploadId: string) {
    return this.request(ZImageSummarySchema, "POST", `/machines/${machineId}/uploads/${uploadId}/finalize`);
  }
}
