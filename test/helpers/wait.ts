// Polling for a state another process reaches, when there is no event to wait on.

/** Resolves once `check` holds, polling every 20 ms; rejects after `timeoutMs`, saying `what`. */
export async function until(check: () => boolean | Promise<boolean>, what: string, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await Bun.sleep(20);
  }
}
