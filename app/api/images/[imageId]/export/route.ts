// GET /api/images/:imageId/export?format=qcow2|raw|vmdk|vhdx — the signed-in owner downloads an
// image as one standalone disk file (server/images/export-image.ts). Errors are one sentence of
// plain text, since this is opened as a download link.
import { Readable } from "node:stream";
import { z } from "zod";
import { db } from "@/db/client";
import { recordAudit } from "@/server/audit/record-audit";
import { currentSessionUser } from "@/server/auth/session-user";
import { isExpectedError, toHttpResponse } from "@/server/error-map";
import { plainError } from "@/server/http/plain-error";
import { EXPORT_FORMATS, exportImage } from "@/server/images/export-image";
import { requestMeta } from "@/server/request-meta";

const ZExportQuerySchema = z.object({
  imageId: z.uuid({ message: "That is not an image id." }),
  format: z.enum(EXPORT_FORMATS, { message: `format must be one of ${EXPORT_FORMATS.join(", ")}.` }),
});

export async function GET(req: Request, { params }: { params: Promise<{ imageId: string }> }) {
  const user = await currentSessionUser();
  if (!user) return plainError(401, "Sign in to download images.");
  const query = ZExportQuerySchema.safeParse({ imageId: (await params).imageId, format: new URL(req.url).searchParams.get("format") ?? "qcow2" });
  if (!query.success) return plainError(400, query.error.issues[0]?.message ?? "Bad request.");
  try {
    const download = await exportImage({ ownerId: user.id, ...query.data, signal: req.signal });
    await recordAudit(db(), {
      userId: user.id,
      action: "image_exported",
      meta: requestMeta(req.headers),
      detail: { imageId: query.data.imageId, format: query.data.format },
    });
    return new Response(Readable.toWeb(download.stream) as ReadableStream<Uint8Array>, {
      headers: {
        "content-type": "application/octet-stream",
        "content-length": String(download.size),
        "content-disposition": `attachment; filename="${download.fileName}"`,
        "cache-control": "no-store",
      },
    });
  } catch (error) {
    if (!isExpectedError(error) && req.signal.aborted) return plainError(499, "The download was cancelled.");
    return toHttpResponse(error, {
      format: "text",
      logAs: "image export failed",
      internalMessage: "The image could not be exported. Try again; if it keeps failing, an administrator can find the reason in the server log.",
    });
  }
}
