// The library for Node.js (`npm run build:lib`, run by `npm pack`): tsc compiles src/index.ts and what
// it imports into lib/ as ESM JavaScript with declarations. Bun and Deno take the TypeScript sources
// (the exports map's "bun" and "deno" conditions); Node.js and TypeScript consumers take lib/.
import { rmSync } from "node:fs";
import { join } from "node:path";

const ROOT = join(import.meta.dir, "..");
rmSync(join(ROOT, "lib"), { recursive: true, force: true });
const tsc = Bun.spawnSync(["npx", "tsc", "-p", "tsconfig.lib.json"], { cwd: ROOT, stdout: "inherit", stderr: "inherit" });
if (tsc.exitCode !== 0) process.exit(tsc.exitCode ?? 1);
console.log("built lib/");
