/**
 * The status page's HTML, served at GET /georeg/ui. Static: no server data in it (the script
 * fills everything in from the JSON API), no inline script or style (the CSP forbids both).
 * Every URL is relative to /georeg/ui, i.e. resolves under /georeg/.
 */
export const pageHtml = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="color-scheme" content="light dark">
<title>georeg status</title>
<link rel="icon" type="image/svg+xml" href="ui/favicon.svg">
<link rel="stylesheet" href="ui/app.css">
<script src="ui/app.js" defer></script>
</head>
<body>
<a class="skip" href="#where-h">Skip to image search</a>
<header class="top">
  <div class="top-inner">
    <h1 class="brand"><img src="ui/favicon.svg" alt="" width="22" height="22"> georeg <span class="brand-sub">status</span></h1>
    <p class="here">Region <strong id="region" class="region-name">…</strong></p>
    <p id="conn" class="conn" data-conn="connecting"><span class="dot" aria-hidden="true"></span><span id="conn-text">Connecting…</span></p>
  </div>
</header>
<main class="wrap">
  <section class="panel" aria-labelledby="regions-h">
    <div class="panel-head">
      <h2 id="regions-h">Regions</h2>
      <p id="summary" class="summary" aria-live="polite" aria-atomic="true"></p>
    </div>
    <p class="lead">This node’s region and each region it replicates from. Updates every 2 seconds.</p>
    <ul id="regions" class="regions" aria-busy="true" aria-label="Regions">
      <li class="card placeholder">Loading replication status…</li>
    </ul>
  </section>
  <section class="panel" aria-labelledby="where-h">
    <h2 id="where-h">Where is my image?</h2>
    <form id="where-form" class="search" role="search" method="get" action="" novalidate>
      <label for="ref">Image reference</label>
      <div class="search-row">
        <input id="ref" name="ref" type="text" inputmode="url" autocomplete="off" autocapitalize="off" spellcheck="false"
          maxlength="600" placeholder="team/app:v1" aria-describedby="ref-hint ref-error" required>
        <button id="search" type="submit">Search</button>
      </div>
      <p id="ref-hint" class="hint">A repository with a tag (<code>team/app:v1</code>) or a digest (<code>team/app@sha256:…</code>).</p>
      <p id="ref-error" class="error" role="alert" hidden></p>
    </form>
    <div id="where-result" class="where-result" aria-live="polite"></div>
  </section>
</main>
<footer class="wrap foot">
  <p>Served by this node. The same data as JSON: <a href="v1/replication">/georeg/v1/replication</a> and <code>/georeg/v1/where/&lt;repository&gt;/&lt;tag or digest&gt;</code>.</p>
</footer>
<noscript><p class="wrap error">This page needs JavaScript to show live status. The JSON API works without it: <a href="v1/replication">/georeg/v1/replication</a>.</p></noscript>
</body>
</html>
`;
