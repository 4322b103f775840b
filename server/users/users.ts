// Creating and listing user accounts (the admin CLI, the demo setup and the admin page).
import { asc, sql } from "drizzle-orm";
import { db } from "@/db/client";
import { users, type UserRole } from "@/db/schema";
import { recordAudit } from "@/server/audit/record-audit";
import { hashPassword, passwordProblem } from "@/server/auth/password";
import { ConflictError, InvalidInputError } from "@/server/errors";

export async function createUser(input: { email: string; password: string; role: UserRole }) {
  const problem = passwordProblem(input.password, input.email);
  if (problem) throw new InvalidInputError(problem);
  const passwordHash = await hashPassword(input.password);
  return db().transaction(async (tx) => {
    const [created] = await tx
      .insert(users)
      .values({ email: input.email, passwordHash, role: input.role })
      .onConflictDoNothing()
      .returning({ id: users.id, email: users.email, role: users.role });
    if (!created) throw new ConflictError(`A user with the email ${input.email} already exists.`);
    await recordAudit(tx, { userId: created.id, action: "user_created", byUser: false, detail: { role: input.role } });
    return created;
  });
}

export async function listUsers() {
  return db()
    .select({
      id: users.id,
      email: users.email,
      role: users.role,
      createdAt: users.createdAt,
      totpEnabled: sql<boolean>`${users.totpSecret} is not null`,
      lockedUntil: users.lockedUntil,
    })
    .from(users)
    .orderBy(asc(users.createdAt));
}

export async function findUserIdByEmail(email: string): Promise<string | null> {
  const [row] = await db()
    .select({ id: users.id })
    .from(users)
    .where(sql`lower(${users.email}) = ${email.toLowerCase()}`);
  return row?.id ?? null;
}
