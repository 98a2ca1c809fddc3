// The console's stylesheet and script, served from /assets/ (compiled into the binary as strings; no
// front-end build). The Content-Security-Policy allows scripts and styles from these URLs only, so
// nothing inline ever runs. The script is an enhancement: every page works without it.

export const CONSOLE_CSS = `
:root { --fg:#1d2330; --muted:#5b6475; --line:#dde1e8; --bg:#f6f7f9; --card:#fff; --accent:#2457c5;
  --ok:#1f7a3d; --warn:#a85d00; --bad:#b3261e; font: 14px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; color: var(--fg); }
* { box-sizing: border-box; }
body { margin: 0; background: var(--bg); }
a { color: var(--accent); }
.top { display: flex; gap: 1.5rem; align-items: center; padding: .6rem 1.2rem; background: #1d2330; color: #fff; }
.top a { color: #cfd6e4; text-decoration: none; }
.top a[aria-current] { color: #fff; font-weight: 600; border-bottom: 2px solid #7fa7ff; }
.top nav { display: flex; gap: 1.1rem; flex: 1; }
.brand { font-weight: 700; color: #fff !important; letter-spacing: .02em; }
.logout { display: flex; gap: .5rem; align-items: center; color: #cfd6e4; }
main { padding: 1.2rem; max-width: 1400px; margin: 0 auto; }
h1 { font-size: 1.35rem; margin: 0 0 1rem; } h2 { font-size: 1.05rem; margin: 1.4rem 0 .6rem; }
.cards { display: grid; grid-template-columns: repeat(auto-fill, minmax(150px, 1fr)); gap: .8rem; }
.card { background: var(--card); border: 1px solid var(--line); border-radius: 6px; padding: .7rem .9rem; }
.card .n { font-size: 1.6rem; font-weight: 650; display: block; } .card .k { color: var(--muted); }
.card.bad .n { color: var(--bad); } .card.warn .n { color: var(--warn); }
table { border-collapse: collapse; width: 100%; background: var(--card); border: 1px solid var(--line); }
th, td { text-align: left; padding: .35rem .55rem; border-bottom: 1px solid var(--line); vertical-align: top; }
th { background: #eef1f5; font-weight: 600; white-space: nowrap; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; }
td.clip { max-width: 28rem; overflow: hidden; text-overflow: ellipsis; white-space: nowrap; }
.filters, .actions { display: flex; flex-wrap: wrap; gap: .6rem; align-items: end; margin: 0 0 .8rem; padding: .6rem;
  background: var(--card); border: 1px solid var(--line); border-radius: 6px; }
.tabs { display: flex; gap: .3rem; margin-bottom: .6rem; }
.tabs a { padding: .3rem .7rem; border-radius: 4px; text-decoration: none; border: 1px solid var(--line); background: var(--card); }
.tabs a[aria-current] { background: var(--accent); color: #fff; border-color: var(--accent); }
input[type=text], input[type=search], input[type=password], input[type=number], select { padding: .3rem .45rem; border: 1px solid #b8bfcc; border-radius: 4px; font: inherit; }
button { padding: .32rem .8rem; border: 1px solid #9aa4b5; border-radius: 4px; background: #fff; font: inherit; cursor: pointer; }
button.primary { background: var(--accent); color: #fff; border-color: var(--accent); }
button.danger { color: var(--bad); border-color: var(--bad); }
.flash { padding: .6rem .9rem; border-radius: 6px; border: 1px solid; }
.flash.ok { background: #e8f5ec; border-color: #a9d8b7; } .flash.error { background: #fbeaea; border-color: #e6a9a5; }
.status { padding: .05rem .4rem; border-radius: 3px; font-size: .85em; background: #eef1f5; }
.status.deferred, .status.failure { background: #fff1dc; color: var(--warn); } .status.failed { background: #fbeaea; color: var(--bad); }
.status.success { background: #e8f5ec; color: var(--ok); }
pre { background: var(--card); border: 1px solid var(--line); padding: .7rem; overflow: auto; white-space: pre-wrap; word-break: break-word; max-height: 32rem; }
dl.facts { display: grid; grid-template-columns: max-content 1fr; gap: .25rem 1rem; background: var(--card); border: 1px solid var(--line); padding: .7rem; margin: 0; }
dl.facts dt { color: var(--muted); } dl.facts dd { margin: 0; word-break: break-all; }
iframe.preview { width: 100%; height: 28rem; border: 1px solid var(--line); background: #fff; }
.muted { color: var(--muted); } .pager { margin: .8rem 0; display: flex; gap: 1rem; }
.chart { background: var(--card); border: 1px solid var(--line); padding: .5rem; }
.chart svg.bars { width: 100%; height: auto; display: block; }
.chart .axis { display: flex; justify-content: space-between; color: var(--muted); font-size: .8em; }
.legend { display: flex; gap: 1rem; color: var(--muted); font-size: .9em; }
svg.sw { display: inline-block; width: .8em; height: .8em; margin-right: .3em; vertical-align: -.05em; }
.login { max-width: 22rem; margin: 4rem auto; background: var(--card); border: 1px solid var(--line); border-radius: 8px; padding: 1.4rem; }
.login label { display: block; margin-bottom: .8rem; } .login input { width: 100%; }
`;

export const CONSOLE_JS = `"use strict";
// "Select all" on a list page; the form works without it.
document.addEventListener("change", (event) => {
  const box = event.target;
  if (!(box instanceof HTMLInputElement) || !box.hasAttribute("data-select-all")) return;
  for (const item of box.form.querySelectorAll("input[name=ids]")) item.checked = box.checked;
});
`;

/** Changes whenever the assets do, so a browser never keeps an old copy after an upgrade. */
export const ASSET_VERSION = hash(CONSOLE_CSS + CONSOLE_JS);

function hash(text: string): string {
  let h = 2166136261;
  for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), 16777619);
  return (h >>> 0).toString(36);
}
