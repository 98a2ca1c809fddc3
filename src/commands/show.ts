// `mailer show ID|<Message-ID>`: where one message is and what happened to it, without SQL.
import { openContext, type GlobalOptions } from "../context.ts";
import { configSecrets, outputWidth, scrub } from "../ops/format.ts";
import { describeKey, parseShowKey, showMessage } from "../ops/show-view.ts";
import { showText } from "../ops/show-text.ts";
import { writeStderr } from "../runtime.ts";

export async function run(args: string[], options: GlobalOptions & { json?: boolean }): Promise<number> {
  const key = parseShowKey(args[0]);
  const ctx = await openContext(options);
  try {
    const db = await ctx.database();
    const now = ctx.clock();
    const result = await showMessage(db.kysely, key, now);
    if (result.messages.length === 0 && result.log.length === 0) {
      writeStderr(`mailer: no message with ${describeKey(key)}\n`);
      return 1;
    }
    const text = options.json ? JSON.stringify(result) + "\n" : showText(result, `message ${describeKey(key)}`, now, outputWidth());
    process.stdout.write(scrub(text, configSecrets(ctx.config)));
    return 0;
  } finally {
    await ctx.close();
  }
}
