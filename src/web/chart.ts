// The dashboard's activity chart: log rows per minute or hour as stacked bars, drawn on the server
// as SVG, so it reads without JavaScript (and each bar says its numbers in a tooltip). Colours are SVG attributes, not style attributes,
// which the Content-Security-Policy does not allow.
import type { ActivityBucket } from "../db/queries/browse.ts";
import { zeroLogCounts, type LogResult } from "../db/schema.ts";
import { html, type Html } from "./html.ts";

export const SERIES: Array<{ result: LogResult; label: string; colour: string }> = [
  { result: "success", label: "sent", colour: "#2f9e57" },
  { result: "failure", label: "deferred or failed", colour: "#e08a00" },
  { result: "dont_send", label: "don't send", colour: "#8a93a6" },
  { result: "expired", label: "expired", colour: "#b04a8a" },
];

/** The `count` bucket keys ending with the one holding `now`, oldest first. */
export function bucketKeys(now: Date, unit: "minute" | "hour", count: number): string[] {
  const step = unit === "minute" ? 60_000 : 3_600_000;
  const length = unit === "minute" ? 16 : 13;
  const keys: string[] = [];
  for (let i = count - 1; i >= 0; i--) keys.push(new Date(now.getTime() - i * step).toISOString().slice(0, length));
  return keys;
}

export function activityChart(buckets: ActivityBucket[], keys: string[], caption: string): Html {
  const byKey = new Map<string, Record<LogResult, number>>(keys.map((k) => [k, zeroLogCounts()]));
  for (const b of buckets) {
    const counts = byKey.get(b.bucket);
    if (counts) counts[b.result] += b.n;
  }
  const totals = keys.map((k) => Object.values(byKey.get(k)!).reduce((a, b) => a + b, 0));
  const max = Math.max(1, ...totals);
  const width = 720, height = 140, top = 14, barGap = 1;
  const barWidth = width / keys.length;
  const scale = (n: number) => (n / max) * (height - top);
  const bars = keys.map((key, i) => {
    const counts = byKey.get(key)!;
    let y = height;
    const label = `${key.replace("T", " ")}${key.length === 13 ? ":00" : ""} UTC: ` + SERIES.map((s) => `${counts[s.result]} ${s.label}`).join(", ");
    const parts = SERIES.filter((s) => counts[s.result] > 0).map((s) => {
      const h = scale(counts[s.result]);
      y -= h;
      return html`<rect x="${(i * barWidth).toFixed(1)}" y="${y.toFixed(1)}" width="${Math.max(1, barWidth - barGap).toFixed(1)}" height="${h.toFixed(1)}" fill="${s.colour}"></rect>`;
    });
    return html`<g><title>${label}</title><rect x="${(i * barWidth).toFixed(1)}" y="0" width="${barWidth.toFixed(1)}" height="${height}" fill="transparent"></rect>${parts}</g>`;
  });
  const sums = SERIES.map((s) => ({ ...s, n: keys.reduce((a, k) => a + byKey.get(k)![s.result], 0) }));
  return html`<figure class="chart">
<figcaption>${caption}: ${sums.map((s) => `${s.n} ${s.label}`).join(", ")}</figcaption>
<svg class="bars" viewBox="0 0 ${width} ${height}" role="img" aria-label="${caption}">
<line x1="0" y1="${top}" x2="${width}" y2="${top}" stroke="#dde1e8"></line>
<text x="2" y="11" font-size="10" fill="#5b6475">${max}</text>
${bars}
<line x1="0" y1="${height - 0.5}" x2="${width}" y2="${height - 0.5}" stroke="#9aa4b5"></line>
</svg>
<div class="axis"><span>${axisLabel(keys[0]!)}</span><span>${axisLabel(keys.at(-1)!)} UTC</span></div>
<div class="legend">${SERIES.map((s) => html`<span><svg class="sw" viewBox="0 0 10 10" aria-hidden="true"><rect width="10" height="10" fill="${s.colour}"></rect></svg>${s.label}</span>`)}</div>
</figure>`;
}

/** "14:05" for a minute key; "12-03 14:00" for an hour key (a day's chart spans two dates). */
function axisLabel(key: string): string {
  return key.length === 13 ? `${key.slice(5, 10)} ${key.slice(11, 13)}:00` : key.slice(11, 16);
}
