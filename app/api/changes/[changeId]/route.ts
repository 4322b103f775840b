// GET /api/changes/:changeId?side=after|before — the signed-in owner downloads one file a session
// changed, as it was after the session (default) or before it (server/changes/changed-file.ts).
// Errors are one sentence of plain text, since this is opened as a download link.
import { Readable } from "node:stream";
import { z } from "zod";
import { db } from "@/db/client";
import { recordAudit } from "@/server/audit/record-audit";
import { currentSessionUser } from "@/server/auth/session-user";
import { plainError } from "@/server/http/plain-error";
import { readChangedFile } from "@/server/changes/changed-file";
import { toHttpResponse } from "@/server/error-map";
import { requestMeta } from "@/server/request-meta";

const ZChangedFileQuerySchema = z.object({
  changeId: z.uuid({ message: "That is not a change id." }),
  side: z.enum(["after", "before"], { message: "side must be after or before." }),
});

/** A file name for Content-Disposition: the plain-ASCII fallback, and the exact name (RFC 5987). */
function disposition(fileName: string): string {
  const ascii = fileName.replace(/[^\x20-\x7e]|["\\]/g, "_");
  return `attachment; filename="${ascii}"; filename*=UTF-8''${encodeURIComponent(fileName)}`;
}

export async function GET(req: Request, { params }: { params: Promise<{ changeId: string }> }) {
  const user = await currentSessionUser();
  if (!user) return plainError(401, "Sign in to download files.");
  const query = ZChangedFileQuerySchema.safeParse({ changeId: (await params).changeId, side: new URL(req.url).searchParams.get("side") ?? "after" });
  if (!query.success) return plainError(400, query.error.issues[0]?.message ?? "Bad request.");
  try {
    const file = await readChangedFile(user.id, query.data.changeId, query.data.side);
    // Closing the stream removes its temporary file, should the audit fail.
    await recordAudit(db(), { userId: user.id, action: "changed_file_downloaded", meta: requestMeta(req.headers), detail: query.data }).catch((error: unknown) => {
      file.stream.destroy();
      throw error;
    });
    return new Response(Readable.toWeb(file.stream) as ReadableStream<Uint8Array>, {
      headers: {
        "content-type": "application/octet-stream",
        "content-length": String(file.size),
        "content-disposition": disposition(file.fileName),
        "cache-control": "no-store",
      },
    });
  } catch (error) {
    return toHttpResponse(error, {
      format: "text",
      logAs: "changed file download failed",
      internalMessage: "The file could not be read from the image. Try again; if it keeps failing, an administrator can find the reason in the server log.",
    });
  }
}
