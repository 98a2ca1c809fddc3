// A real headless Chromium (Debian's `chromium` package) driven by playwright-core, for the console's
// browser tests. Runs with --no-sandbox only when the tests run as root (Chromium refuses otherwise).
import { chromium, type Browser } from "playwright-core";
import { existsSync } from "node:fs";

export const CHROMIUM = process.env.MAILER_TEST_CHROMIUM ?? ["/usr/bin/chromium", "/usr/bin/chromium-browser"].find(existsSync) ?? "";

export async function launchBrowser(): Promise<Browser> {
  if (!CHROMIUM) throw new Error("no Chromium: apt-get install chromium (.ci/run does), or set MAILER_TEST_CHROMIUM");
  return chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: process.getuid?.() === 0 ? ["--no-sandbox"] : [],
  });
}
