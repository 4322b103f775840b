// Where a request came from. server.ts writes the client's address into CLIENT_IP_HEADER
// (from the socket, or from X-Forwarded-For when TRUST_PROXY is set), overwriting whatever
// the client sent, so the value can be trusted.
import { isIP } from "node:net";

export const CLIENT_IP_HEADER = "x-twinboot-client-ip";

export interface RequestMeta {
  ip: string | null;
  userAgent: string | null;
}

export function requestMeta(headers: Headers): RequestMeta {
  const ip = headers.get(CLIENT_IP_HEADER);
  return {
    ip: ip && isIP(ip) ? ip : null,
    userAgent: headers.get("user-agent")?.slice(0, 512) ?? null,
  };
}
