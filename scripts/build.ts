// npm run build: one self-contained executable at dist/mailer (runs with no node_modules beside it).
import { mkdirSync } from "node:fs";
import { $ } from "bun";

const outfile = process.argv[2] ?? "dist/mailer";
mkdirSync("dist", { recursive: true });
// Not minified and not stripped: stack traces stay readable and a stripped Bun binary does not run.
// Worker scripts are entry points of their own (src/runtime.ts sourceUrl finds them in the bundle).
await $`bun build --compile --sourcemap=inline src/cli.ts src/engine/store-worker.ts --outfile ${outfile}`.quiet();
console.log(`built ${outfile}`);
