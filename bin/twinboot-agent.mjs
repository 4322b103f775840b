#!/usr/bin/env node
// The `twinboot-agent` CLI (agent/main.ts), run through tsx with the project's tsconfig.
import path from "node:path";
import { fileURLToPath } from "node:url";
import { register } from "tsx/esm/api";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
register({ tsconfig: path.join(root, "tsconfig.json") });
const { main } = await import(path.join(root, "agent/main.ts"));
process.exitCode = await main(process.argv.slice(2));
