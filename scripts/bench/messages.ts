// The messages every bench step sends: one generator, so the library enqueue, the drain and the
// bare-nodemailer ceiling all move the same bytes with the same envelopes.
//
// Each message is a complete RFC 5322 text with its own Message-ID and Date, so the enqueue path
// stores it unchanged (prepareMessage adds neither) and the ceiling sends exactly what the drain sends.

export interface BenchMessage {
  raw: string;
  envelope: { from: string; to: string[] };
}

const FROM = "bench-sender@example.test";
/** A fixed date: message bytes do not depend on when the bench runs. */
const DATE = "Mon, 30 Nov 2026 01:54:26 +0000";

// About 1 KiB in all: the size of a typical plain-text transactional mail.
const BODY = Array.from(
  { length: 12 },
  (_, i) => `Line ${String(i + 1).padStart(2, "0")} of a typical transactional message body, wrapped well inside 78 columns.`,
).join("\r\n");

export function benchMessage(i: number, tag = "bench"): BenchMessage {
  const to = `user${i % 1000}@example.test`;
  const raw = [
    `From: Bench Sender <${FROM}>`,
    `To: <${to}>`,
    `Subject: ${tag} message ${i}`,
    `Date: ${DATE}`,
    `Message-ID: <${tag}.${i}@bench.example.test>`,
    "MIME-Version: 1.0",
    "Content-Type: text/plain; charset=utf-8",
    "Content-Transfer-Encoding: 7bit",
    "",
    BODY,
    "",
  ].join("\r\n");
  return { raw, envelope: { from: FROM, to: [to] } };
}

export function benchMessages(count: number, tag = "bench"): BenchMessage[] {
  return Array.from({ length: count }, (_, i) => benchMessage(i, tag));
}
