// Who is on the other end of a request, once authenticated: a signed-in user (browser) or an
// enrolled machine (agent). Every layer passes these; none of them owns them.
import type { UserRole } from "./enums";

export interface SessionUser {
  id: string;
  email: string;
  role: UserRole;
  /** The auth_sessions row behind the cookie. */
  sessionId: string;
}

/** The machine an agent credential names; every agent API query is scoped to its id. */
export interface AgentMachine {
  id: string;
  name: string;
  ownerId: string;
  lastAgentImageId: string | null;
}
