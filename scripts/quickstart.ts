// npm run quickstart: build, make a SQLite queue in .tmp/quickstart, queue sample mail, deliver it with
// the `file` backend (no server needed) and show what happened. Safe to run again.
import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { $ } from "bun";

const root = resolve(import.meta.dir, "..");
const work = join(root, ".tmp", "quickstart");
const mailer = join(root, "dist", "mailer");

await $`bun scripts/build.ts`.cwd(root);
rmSync(work, { recursive: true, force: true });
mkdirSync(work, { recursive: true });
writeFileSync(
  join(work, "mailer.toml"),
  `# A queue in ./mailer.db, delivered as .eml files into ./outbox.
[database]
url = "sqlite:./mailer.db"

[backend]
type = "file"
dir = "./outbox"
`,
);

const step = (text: string) => console.log(`\n\x1b[1m$ ${text}\x1b[0m`);
step("mailer migrate");
await $`${mailer} migrate`.cwd(work);

step("mailer queue --priority low --from app@example.com --to alice@example.com --subject 'Weekly digest' --text '…'");
await $`${mailer} queue --priority low --from app@example.com --to alice@example.com --subject ${"Weekly digest"} --text ${"Here is what happened this week."}`.cwd(work);
step("mailer queue --priority high --from app@example.com --to bob@example.com --subject 'Password reset' --text '…'");
await $`${mailer} queue --priority high --from app@example.com --to bob@example.com --subject ${"Password reset"} --text ${"Follow this link to reset your password."}`.cwd(work);
step("printf 'To: ops@example.com\\nSubject: cron report\\n\\nAll good.\\n' | mailer sendmail -t -oi");
await $`printf ${"From: cron@example.com\nTo: ops@example.com\nSubject: cron report\n\nAll good.\n"} | ${mailer} sendmail -t -oi`.cwd(work);

step("mailer status");
await $`${mailer} status`.cwd(work);
step("mailer send-mail");
await $`${mailer} send-mail`.cwd(work);
step("mailer status");
await $`${mailer} status`.cwd(work);

const outbox = join(work, "outbox");
const files = readdirSync(outbox).sort();
step(`ls ${outbox}`);
for (const file of files) console.log(file);
if (files[0]) {
  step(`head -n 12 outbox/${files[0]}`);
  console.log(readFileSync(join(outbox, files[0]), "utf8").split(/\r?\n/).slice(0, 12).join("\n"));
}
console.log(`\nDelivered ${files.length} message(s) to ${outbox}. Config: ${join(work, "mailer.toml")}`);
