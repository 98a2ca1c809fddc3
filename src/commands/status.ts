// `mailer status`: what is queued, deferred and failed, how old the oldest is, recent results, who
// holds the lock. `--json` is the monitoring form; `--check --max-…` turns it into a health probe.
import { openContext, type GlobalOptions } from "../context.ts";
import { UsageError } from "../errors.ts";
import { crossedThresholds, parseThresholds } from "../ops/check.ts";
import { configSecrets, scrub } from "../ops/format.ts";
import { statusReport } from "../ops/status-report.ts";
import { statusText } from "../ops/status-text.ts";
import { writeStderr } from "../runtime.ts";

interface StatusOptions extends GlobalOptions {
  json?: boolean;
  check?: boolean;
}

export async function run(_args: string[], options: StatusOptions & Record<string, unknown>): Promise<number> {
  const limits = parseThresholds(options);
  const checking = options.check === true || Object.keys(limits).length > 0;
  if (checking && Object.keys(limits).length === 0) {
    throw new UsageError("status --check needs at least one of --max-age, --max-queued, --max-deferred, --max-failed");
  }
  const ctx = await openContext(options);
  try {
    const db = await ctx.database();
    const report = await statusReport(db, ctx.config, ctx.clock());
    const secrets = configSecrets(ctx.config);
    // A check is quiet when all is well, so cron mails only on trouble; --json still prints for a probe.
    if (options.json) process.stdout.write(scrub(JSON.stringify(report), secrets) + "\n");
    else if (!checking) process.stdout.write(scrub(statusText(report), secrets));
    if (!checking) return 0;
    const reasons = crossedThresholds(report, limits);
    for (const reason of reasons) writeStderr(`mailer: status check failed: ${reason}\n`);
    return reasons.length > 0 ? 1 : 0;
  } finally {
    await ctx.close();
  }
}
