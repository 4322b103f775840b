#!/usr/bin/env node
// The `twinboot` admin CLI. Runs the TypeScript sources through tsx, with the project's tsconfig
// (for its path aliases) wherever it is called from.
import path from "node:path";
import { fileURLToPath } from "node:url";
import { register } from "tsx/esm/api";

// A reader that goes away (`twinboot user list | head -n 1`) ends the output, not in a stack trace.
process.stdout.on("error", (error) => {
  if (error.code === "EPIPE") process.exit(process.exitCode ?? 0);
  throw error;
});

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
register({ tsconfig: path.join(root, "tsconfig.json") });
const { main } = await import(path.join(root, "server/cli/main.ts"));
process.exitCode = await main(process.argv.slice(2));
