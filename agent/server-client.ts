// The agent's side of the agent API: typed calls, one error type with the server's sentence,
// and retries with backoff while the server cannot be reached.
import http from "node:http";
import https from "node:https";
import { z } from "zod";
import {
  AGENT_API_PREFIX,
  ZAgentErrorSchema,
  ZAgentMachineStateSchema,
  ZEnrollResponseSchema,
  ZImageSummarySchema,
  ZUploadStateSchema,
  type TCreateUploadRequest,
  type TUploadState,
} from "@/wire/agent";
import {
  ZAgentApplyRequestListSchema,
  ZApplyManifestSchema,
  type TApplyProgress,
} from "@/wire/apply-back";
import { retry } from "@/wire/backoff";
import { EXTENT_STREAM_CONTENT_TYPE } from "@/wire/extent-stream";

function isNetworkError(error: unknown): boolean {
  const code = (error as NodeJS.ErrnoException | undefined)?.code;
  return typeof code === "string" && /^(E[A-Z]+|UND_ERR_\w+)$/.test(code) && code !== "ENOENT";
}

/**
 * A PUT whose body is written from `body` with backpressure (chunked, no length up front). An
 * answer that comes before the body is done (an error) stops the writing and is what counts.
 */
function streamRequest(url: URL, headers: Record<string, string>, body: AsyncIterable<Buffer>): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const request = (url.protocol === "https:" ? https : http).request(url, { method: "PUT", headers });
    let answered = false;
    request.on("response", (response) => {
      answered = true;
      const chunks: Buffer[] = [];
      response.on("data", (chunk: Buffer) => chunks.push(chunk));
      response.on("end", () => resolve({ status: response.statusCode ?? 0, body: Buffer.concat(chunks).toString("utf8") }));
      response.on("error", reject);
    });
    request.on("error", (error) => {
      if (!answered) reject(error);
    });
    const writable = () =>
      new Promise<void>((done) => {
        const settle = () => {
          request.off("drain", settle);
          request.off("close", settle);
          done();
        };
        request.once("drain", settle);
        request.once("close", settle);
      });
    void (async () => {
      for await (const chunk of body) {
        if (answered || request.destroyed) return;
        if (!request.write(chunk)) await writable();
      }
      request.end();
    })().catch((error: unknown) => {
      // Reading the disk failed: abandon the request and report that, not a network error.
      request.destroy();
      reject(error);
    });
  });
}

export class ServerError extends Error {
  constructor(
    message: string,
    readonly status: number,
  ) {
    super(message);
  }
  /** 5xx, "too busy" (429) and network failures are worth retrying; other 4xx answers will not change. */
  get retryable(): boolean {
    return this.status === 0 || this.status === 429 || this.status >= 500;
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
    return retry(() => this.once(schema, method, path, body, contentType), {
      attempts: this.retry.attempts,
      backoff: { baseMs: this.retry.firstDelayMs, maxMs: 60_000 },
      shouldRetry: (error) => error instanceof ServerError && error.retryable,
      onRetry: (error, delayMs) => this.retry.onRetry?.(error as ServerError, delayMs),
    });
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
    let text: string;
    try {
      text = await res.text();
    } catch {
      // The connection can drop after the status line (a server killed mid-answer): that is a
      // lost answer, to retry, not a malformed one.
      throw new ServerError(`The connection to ${this.server} was lost while it answered.`, 0);
    }
    return this.parseAnswer(schema, res.status, text);
  }

  private parseAnswer<T>(schema: z.ZodType<T>, status: number, body: string): T {
    let json: unknown = null;
    try {
      json = JSON.parse(body);
    } catch {
      if (status < 300) throw new ServerError(`The connection to ${this.server} was lost while it answered.`, 0);
    }
    if (status >= 300) {
      const message = ZAgentErrorSchema.safeParse(json).data?.error ?? `The server answered ${status}.`;
      throw new ServerError(message, status);
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

  /**
   * Sends an extent stream into an upload in one request, writing frames as the socket takes them.
   * Resolves with the upload's state once the server has written and checkpointed all of it.
   */
  async sendExtents(machineId: string, uploadId: string, frames: AsyncIterable<Buffer>): Promise<TUploadState> {
    const url = new URL(`${AGENT_API_PREFIX}/machines/${machineId}/uploads/${uploadId}/extents`, this.server);
    const answer = await streamRequest(url, { authorization: `Bearer ${this.credential}`, "content-type": EXTENT_STREAM_CONTENT_TYPE }, frames).catch(
      (error: unknown) => {
        if (error instanceof ServerError || !isNetworkError(error)) throw error;
        throw new ServerError(`The connection to ${this.server} was lost during the upload (${(error as NodeJS.ErrnoException).code}).`, 0);
      },
    );
    return this.parseAnswer(ZUploadStateSchema, answer.status, answer.body);
  }

  finalizeUpload(machineId: string, uploadId: string) {
    return this.request(ZImageSummarySchema, "POST", `/machines/${machineId}/uploads/${uploadId}/finalize`);
  }

  applyRequests(machineId: string) {
    return this.request(ZAgentApplyRequestListSchema, "GET", `/machines/${machineId}/apply-requests`);
  }

  applyManifest(machineId: string, requestId: string) {
    return this.request(ZApplyManifestSchema, "GET", `/machines/${machineId}/apply-requests/${requestId}`);
  }

  reportApply(machineId: string, requestId: string, progress: TApplyProgress) {
    return this.request(z.object({ ok: z.literal(true) }), "POST", `/machines/${machineId}/apply-requests/${requestId}`, JSON.stringify(progress), "application/json");
  }

  /** A streamed answer (the request's files as tar, or the event stream): its body once the status says it is one. */
  async stream(method: "GET" | "POST", path: string, options: { body?: string; signal?: AbortSignal } = {}): Promise<{ body: ReadableStream<Uint8Array>; headers: Headers }> {
    const headers: Record<string, string> = { authorization: `Bearer ${this.credential}` };
    if (options.body) headers["content-type"] = "application/json";
    let res: Response;
    try {
      res = await fetch(new URL(`${AGENT_API_PREFIX}${path}`, this.server), { method, headers, body: options.body, signal: options.signal });
    } catch (error) {
      if (options.signal?.aborted) throw error;
      const cause = (error as { cause?: { code?: string } }).cause?.code ?? (error as Error).message;
      throw new ServerError(`The server at ${this.server} cannot be reached (${cause}).`, 0);
    }
    if (!res.ok || !res.body) this.parseAnswer(z.never(), res.status, await res.text().catch(() => ""));
    return { body: res.body!, headers: res.headers };
  }
}
