/**
 * The status page's stylesheet, served at GET /georeg/ui/app.css (a separate file: the page's
 * CSP allows no inline style). System fonts, light and dark schemes, status colours that also
 * carry a text label (colour is never the only signal).
 */
export const appCss = String.raw`:root {
  color-scheme: light dark;
  --bg: #f4f6f9;
  --fg: #111827;
  --muted: #5b6473;
  --card: #ffffff;
  --line: #dfe3ea;
  --accent: #2563eb;
  --top-bg: #0f172a;
  --top-fg: #f8fafc;
  --ok: #15803d;
  --ok-bg: #dcfce7;
  --warn: #a16207;
  --warn-bg: #fef3c7;
  --bad: #b91c1c;
  --bad-bg: #fee2e2;
  --none: #475569;
  --none-bg: #e9edf2;
  --focus: #2563eb;
  --radius: 10px;
  --shadow: 0 1px 2px rgba(15, 23, 42, 0.06), 0 1px 3px rgba(15, 23, 42, 0.08);
}
@media (prefers-color-scheme: dark) {
  :root {
    --bg: #0b1120;
    --fg: #e5e7eb;
    --muted: #9aa4b2;
    --card: #111a2e;
    --line: #243049;
    --accent: #60a5fa;
    --top-bg: #020617;
    --ok: #4ade80;
    --ok-bg: #12351f;
    --warn: #facc15;
    --warn-bg: #3a2f0b;
    --bad: #f87171;
    --bad-bg: #3f1515;
    --none: #cbd5e1;
    --none-bg: #1e293b;
    --focus: #93c5fd;
    --shadow: none;
  }
}
* { box-sizing: border-box; }
html { -webkit-text-size-adjust: 100%; }
body {
  margin: 0;
  background: var(--bg);
  color: var(--fg);
  font: 15px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, "Noto Sans", sans-serif;
}
code, .digest { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, "Liberation Mono", monospace; font-size: 0.92em; }
a { color: var(--accent); }
:focus-visible { outline: 3px solid var(--focus); outline-offset: 2px; }
.sr-only {
  position: absolute; width: 1px; height: 1px; padding: 0; margin: -1px;
  overflow: hidden; clip: rect(0 0 0 0); white-space: nowrap; border: 0;
}
.skip { position: absolute; left: -9999px; top: 0; }
.skip:focus { left: 1rem; top: 0.5rem; z-index: 10; background: var(--card); padding: 0.4rem 0.8rem; border-radius: 6px; }

/* header */
.top { background: var(--top-bg); color: var(--top-fg); }
.top-inner, .wrap { max-width: 1080px; margin: 0 auto; padding-left: 1.25rem; padding-right: 1.25rem; }
.top-inner { display: flex; align-items: center; gap: 1.25rem; flex-wrap: wrap; min-height: 56px; padding-top: 0.5rem; padding-bottom: 0.5rem; }
.top p, .top h1 { margin: 0; }
.brand { display: flex; align-items: center; gap: 0.5rem; font-size: 1.1rem; font-weight: 700; letter-spacing: 0.01em; }
.brand-sub { font-weight: 400; opacity: 0.7; }
.here { color: #cbd5e1; }
.region-name {
  display: inline-block; margin-left: 0.35rem; padding: 0.05rem 0.6rem; border-radius: 999px;
  background: rgba(255, 255, 255, 0.12); color: #fff; font-weight: 700;
}
.conn { margin-left: auto !important; display: flex; align-items: center; gap: 0.45rem; font-size: 0.85rem; color: #cbd5e1; }
.conn .dot { width: 9px; height: 9px; border-radius: 50%; background: #94a3b8; }
.conn[data-conn="live"] .dot { background: #22c55e; box-shadow: 0 0 0 3px rgba(34, 197, 94, 0.25); }
.conn[data-conn="down"] .dot { background: #ef4444; box-shadow: 0 0 0 3px rgba(239, 68, 68, 0.3); }
.conn[data-conn="down"] { color: #fecaca; }

/* panels */
main.wrap { padding-top: 1.5rem; padding-bottom: 1rem; }
.panel { margin-bottom: 2rem; }
.panel-head { display: flex; align-items: baseline; justify-content: space-between; gap: 1rem; flex-wrap: wrap; }
h2 { font-size: 1.25rem; margin: 0 0 0.25rem; }
.lead, .hint { color: var(--muted); margin: 0 0 1rem; font-size: 0.92rem; }
.summary { margin: 0; font-weight: 600; color: var(--muted); }

/* region cards */
.regions { list-style: none; margin: 0; padding: 0; display: grid; gap: 1rem; grid-template-columns: repeat(auto-fill, minmax(300px, 1fr)); }
.regions[data-stale="true"] .card { opacity: 0.55; filter: grayscale(0.6); }
.card {
  background: var(--card); border: 1px solid var(--line); border-top: 4px solid var(--none);
  border-radius: var(--radius); box-shadow: var(--shadow); padding: 0.9rem 1rem 1rem;
}
.card.placeholder { color: var(--muted); border-top-color: var(--line); }
.card[data-health="healthy"] { border-top-color: var(--ok); }
.card[data-health="lagging"] { border-top-color: var(--warn); }
.card[data-health="unhealthy"], .card[data-health="down"] { border-top-color: var(--bad); }
.card-head { display: flex; align-items: center; justify-content: space-between; gap: 0.5rem; }
.card-title { margin: 0; font-size: 1.2rem; display: flex; align-items: center; gap: 0.5rem; }
.card-role { margin: 0.15rem 0 0.75rem; color: var(--muted); font-size: 0.88rem; }
.tag {
  display: inline-block; font-size: 0.7rem; font-weight: 600; text-transform: uppercase; letter-spacing: 0.04em;
  padding: 0.1rem 0.45rem; border-radius: 4px; background: var(--none-bg); color: var(--none); margin-left: 0.4rem; vertical-align: middle;
}
.card-title .tag { margin-left: 0; }
.metrics { display: grid; grid-template-columns: repeat(3, minmax(max-content, 1fr)); gap: 0.6rem 0.9rem; margin: 0; }
.metric dt { font-size: 0.8rem; color: var(--muted); white-space: nowrap; }
.metric dd { margin: 0; font-size: 1.05rem; font-weight: 600; font-variant-numeric: tabular-nums; }
.card-error {
  margin: 0.8rem 0 0; padding: 0.45rem 0.6rem; border-radius: 6px; background: var(--bad-bg); color: var(--bad);
  font-size: 0.85rem; line-height: 1.4; overflow-wrap: anywhere;
}
/* long errors: four lines here, all of it in the tooltip */
.card-error .clamp { display: -webkit-box; -webkit-box-orient: vertical; -webkit-line-clamp: 4; line-clamp: 4; overflow: hidden; }

/* badges: a dot and a word */
.badge {
  display: inline-flex; align-items: center; gap: 0.4rem; padding: 0.15rem 0.6rem; border-radius: 999px;
  font-size: 0.82rem; font-weight: 600; white-space: nowrap; background: var(--none-bg); color: var(--none);
}
.badge .dot { width: 8px; height: 8px; border-radius: 50%; background: currentColor; }
.badge[data-health="healthy"], .badge[data-state="complete"] { background: var(--ok-bg); color: var(--ok); }
.badge[data-health="lagging"], .badge[data-state="incomplete"] { background: var(--warn-bg); color: var(--warn); }
.badge[data-health="unhealthy"], .badge[data-health="down"], .badge[data-state="unreachable"] { background: var(--bad-bg); color: var(--bad); }
.badge[data-state="absent"] .dot { background: transparent; border: 2px solid currentColor; }

/* search */
.search { background: var(--card); border: 1px solid var(--line); border-radius: var(--radius); box-shadow: var(--shadow); padding: 1rem; margin-top: 0.75rem; }
.search label { display: block; font-weight: 600; margin-bottom: 0.35rem; }
.search-row { display: flex; gap: 0.5rem; }
.search input {
  flex: 1; min-width: 0; font: inherit; font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, "Liberation Mono", monospace;
  padding: 0.5rem 0.7rem; border: 1px solid var(--line); border-radius: 8px; background: var(--bg); color: var(--fg);
}
.search input[aria-invalid="true"] { border-color: var(--bad); }
.search button {
  font: inherit; font-weight: 600; padding: 0.5rem 1.2rem; border: 0; border-radius: 8px; background: var(--accent); color: #fff; cursor: pointer;
}
@media (prefers-color-scheme: dark) { .search button { color: #0b1120; } }
.search button:hover { filter: brightness(1.08); }
.search .hint { margin: 0.5rem 0 0; }
.error { color: var(--bad); background: var(--bad-bg); border-radius: 6px; padding: 0.5rem 0.7rem; margin: 0.6rem 0 0; }
.error[hidden] { display: none; }

/* search results */
.where-result { margin-top: 1rem; }
.where-result:empty { display: none; }
.searching { color: var(--muted); }
.where-head { display: flex; align-items: baseline; gap: 1rem; flex-wrap: wrap; }
.where-head h3 { margin: 0; font-size: 1.05rem; word-break: break-all; }
.where-summary { margin: 0; font-weight: 600; color: var(--muted); }
.where-digest { margin: 0.25rem 0 0; color: var(--muted); font-size: 0.85rem; word-break: break-all; }
.note { margin: 0.4rem 0 0; color: var(--muted); font-size: 0.9rem; }
.where-table {
  width: 100%; margin-top: 0.75rem; border-collapse: separate; border-spacing: 0; background: var(--card);
  border: 1px solid var(--line); border-radius: var(--radius); box-shadow: var(--shadow); overflow: hidden;
}
.where-table th, .where-table td { text-align: left; padding: 0.6rem 0.9rem; border-bottom: 1px solid var(--line); vertical-align: middle; }
.where-table tbody tr:last-child th, .where-table tbody tr:last-child td { border-bottom: 0; }
.where-table thead th { font-size: 0.75rem; text-transform: uppercase; letter-spacing: 0.03em; color: var(--muted); font-weight: 600; }
.where-table tbody th { font-weight: 700; white-space: nowrap; }
.details { color: var(--muted); font-size: 0.9rem; overflow-wrap: anywhere; }
.details .digest { color: var(--fg); margin-left: 0.35rem; }

.foot { color: var(--muted); font-size: 0.82rem; padding-bottom: 2rem; }
@media (max-width: 560px) {
  .conn { margin-left: 0 !important; width: 100%; }
  .metrics { grid-template-columns: repeat(2, minmax(max-content, 1fr)); }
  .search-row { flex-direction: column; }
}
@media (prefers-reduced-motion: no-preference) {
  .card, .badge { transition: border-color 0.3s, background-color 0.3s, color 0.3s; }
}
`;
