/** The dashboard's stylesheet and script, served from memory (no build step, no CDN, system fonts). */
export const CSS = `
:root { --fg:#1d2330; --muted:#6b7280; --line:#e5e7eb; --bg:#f7f8fa; --card:#fff; --accent:#2f5bea;
  --ok:#1f9d55; --sent:#7aa2f7; --queued:#c0c4cc; --bad:#d64545; --warn:#e3a008; }
* { box-sizing: border-box; }
body { margin:0; font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif; color:var(--fg); background:var(--bg); }
header { display:flex; align-items:center; gap:18px; padding:10px 20px; background:#111827; color:#fff; }
header a { color:#cbd5e1; text-decoration:none; } header a.active, header a:hover { color:#fff; }
header .brand { font-weight:600; color:#fff; margin-right:12px; }
header form { margin-left:auto; } header .who { color:#9ca3af; font-size:12px; }
main { max-width:1100px; margin:0 auto; padding:20px; }
h1 { font-size:20px; margin:0 0 14px; } h2 { font-size:15px; margin:22px 0 8px; }
.card { background:var(--card); border:1px solid var(--line); border-radius:6px; padding:14px 16px; margin-bottom:16px; }
.kpis { display:grid; grid-template-columns:repeat(auto-fit,minmax(150px,1fr)); gap:12px; margin-bottom:16px; }
.kpi { background:var(--card); border:1px solid var(--line); border-radius:6px; padding:10px 14px; }
.kpi b { display:block; font-size:22px; } .kpi span { color:var(--muted); font-size:12px; }
table { width:100%; border-collapse:collapse; background:var(--card); }
th, td { text-align:left; padding:6px 8px; border-bottom:1px solid var(--line); vertical-align:top; }
th { font-size:12px; color:var(--muted); font-weight:600; }
td.num, th.num { text-align:right; font-variant-numeric:tabular-nums; }
.muted { color:var(--muted); } code, .mono { font-family:ui-monospace,SFMono-Regular,Menlo,monospace; font-size:12px; }
.status { display:inline-block; padding:1px 7px; border-radius:10px; font-size:12px; background:#eef2ff; }
.status.delivered { background:#dcfce7; color:#166534; } .status.failed, .status.undelivered, .status.expired { background:#fee2e2; color:#991b1b; }
.status.queued, .status.canceled { background:#f3f4f6; } .status.sent, .status.sending { background:#e0e7ff; }
form.filters { display:flex; flex-wrap:wrap; gap:8px; align-items:end; margin-bottom:14px; }
label { display:flex; flex-direction:column; font-size:12px; color:var(--muted); gap:2px; }
input, select, textarea, button { font:inherit; padding:5px 8px; border:1px solid #cbd5e1; border-radius:4px; background:#fff; color:var(--fg); }
button { background:var(--accent); color:#fff; border-color:var(--accent); cursor:pointer; }
button.link { background:none; border:none; color:#cbd5e1; padding:0; }
.error-box { background:#fee2e2; border:1px solid #fca5a5; padding:8px 12px; border-radius:4px; margin-bottom:12px; }
.notice { background:#ecfdf5; border:1px solid #a7f3d0; padding:8px 12px; border-radius:4px; margin-bottom:12px; }
.alert { border-left:4px solid var(--warn); } .alert.critical { border-left-color:var(--bad); }
.login { max-width:420px; margin:80px auto; }
.chart { margin:0; } .chart svg, svg.hbars { width:100%; height:auto; display:block; }
.chart figcaption { font-size:12px; color:var(--muted); }
.legend { margin-right:12px; } .legend i { display:inline-block; width:10px; height:10px; margin-right:4px; vertical-align:middle; }
svg .axis { stroke:#9ca3af; } svg .tick { font-size:10px; fill:var(--muted); }
.s-delivered { fill:var(--ok); background:var(--ok); } .s-sent { fill:var(--sent); background:var(--sent); }
.s-failed { fill:var(--bad); background:var(--bad); } .s-queued { fill:var(--queued); background:var(--queued); }
.bar { fill:var(--accent); } .bar-bad { fill:var(--bad); } .bar-over { fill:var(--warn); }
.phones { display:grid; grid-template-columns:220px 1fr; gap:16px; }
.phones ul { list-style:none; margin:0; padding:0; } .phones li a { display:block; padding:6px 8px; border-radius:4px; text-decoration:none; color:var(--fg); }
.phones li a.active { background:#e0e7ff; }
.bubble { max-width:70%; padding:6px 10px; border-radius:12px; margin:6px 0; white-space:pre-wrap; }
.bubble.received { background:#f3f4f6; } .bubble.sent { background:#dbeafe; margin-left:auto; }
.bubble small { display:block; color:var(--muted); font-size:11px; }
.pre { white-space:pre-wrap; }
.pager { display:flex; gap:12px; margin-top:10px; }
.consent { display:inline-block; padding:1px 7px; border-radius:10px; font-size:12px; background:#f3f4f6; }
.consent.opted_in { background:#dcfce7; color:#166534; } .consent.opted_out { background:#fee2e2; color:#991b1b; }
label.grow { flex:1; min-width:260px; }
#contact h2.mono { font-size:16px; margin-top:0; }
q.pre { quotes:'“' '”'; }
`;

/** Local times for <time> elements, auto-refresh toggle, confirm on danger buttons. */
export const JS = `
(function () {
  for (const t of document.querySelectorAll('time[datetime]')) {
    const d = new Date(t.getAttribute('datetime'));
    if (!isNaN(d)) { t.title = t.textContent; t.textContent = d.toLocaleString(); }
  }
  const box = document.getElementById('autorefresh');
  if (box) {
    box.checked = sessionStorage.getItem('sb-autorefresh') === '1';
    box.addEventListener('change', () => sessionStorage.setItem('sb-autorefresh', box.checked ? '1' : '0'));
    setInterval(() => { if (box.checked) location.reload(); }, 10000);
  }
})();
`;
