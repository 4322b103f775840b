// Enum values shared by the schema and by code that must not import drizzle (the browser, the agent).
export const userRole = ["admin", "user"] as const;
export const applyBackMode = ["auto", "prompt", "manual"] as const;
export type ApplyBackMode = (typeof applyBackMode)[number];
