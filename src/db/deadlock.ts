// A transaction chosen as a deadlock's victim was rolled back whole, and the database's own advice is
// to run it again. The engine's short transactions that hold nothing outside the database do so at
// once (the expiry sweep, MariaDB's claim in steps): on MariaDB under load the sweep, beside a batch's
// record, was a victim now and then, and its expired message waited for a later pass (for cron's
// send-mail, the next minute). A batch's record has retries of its own (pass.ts recordWithRetry).

/** A deadlock victim: MariaDB's ER_LOCK_DEADLOCK (mysql2), PostgreSQL's deadlock_detected (40P01). */
export function isDeadlock(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  return code === "ER_LOCK_DEADLOCK" || code === "40P01";
}

/** Runs `transaction`, and runs it again (up to `attempts` times in all) when it was a deadlock's
 * victim, after a short random pause so that two victims do not meet again in step. */
export async function retryDeadlocks<T>(transaction: () => Promise<T>, attempts = 3): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await transaction();
    } catch (error) {
      if (attempt >= attempts || !isDeadlock(error)) throw error;
      await new Promise((resolve) => setTimeout(resolve, 5 + Math.random() * 20 * attempt));
    }
  }
}
