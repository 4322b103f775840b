// Lint rules: typescript-eslint's recommended set, plus drizzle's guard against an UPDATE or
// DELETE without a WHERE (which would touch every user's rows).
import drizzle from "eslint-plugin-drizzle";
import tseslint from "typescript-eslint";

export default tseslint.config(
  { ignores: [".next/**", "node_modules/**", "public/sw.js", "next-env.d.ts", ".test-run/**", ".data/**"] },
  ...tseslint.configs.recommended,
  {
    plugins: { drizzle },
    rules: {
      "drizzle/enforce-delete-with-where": ["error", { drizzleObjectName: ["db", "tx"] }],
      "drizzle/enforce-update-with-where": ["error", { drizzleObjectName: ["db", "tx"] }],
      "@typescript-eslint/no-unused-vars": ["error", { argsIgnorePattern: "^_" }],
    },
  },
  {
    // wire/ is what both sides of a boundary share: it may import nothing of either side.
    files: ["wire/**"],
    rules: {
      "no-restricted-imports": ["error", { patterns: [{ group: ["@/server/*", "@/db/*", "@/app/*", "@/agent/*", "../*"], message: "wire/ imports nothing from server/, db/, app/ or agent/." }] }],
    },
  },
);
