/**
 * The status page's script, served at GET /georeg/ui/app.js (a separate file: the page's CSP
 * allows no inline script). Plain browser JavaScript, no build step, no dependencies.
 *
 * Safety: every string from the API or the user reaches the DOM through `textContent` or a
 * plain attribute (`title`, `data-*`), never through innerHTML. Requests go only to this
 * node's own JSON API, by URLs relative to the page (/georeg/ui -> /georeg/v1/...).
 *
 * Kept as a String.raw template: the script must not contain a backtick or a dollar-brace.
 */
export const appJs = String.raw`'use strict';
(function () {
  var POLL_MS = 2000;
  var STATUS_TIMEOUT_MS = 8000;
  var WHERE_TIMEOUT_MS = 20000;
  /** A peer this far behind is shown as lagging (amber). */
  var LAG_WARN_SECONDS = 10;

  // The registry's grammar (distribution-spec), mirrored so bad input fails here with a clear message.
  var COMPONENT = '[a-z0-9]+(?:(?:\\.|_|__|-+)[a-z0-9]+)*';
  var NAME = new RegExp('^' + COMPONENT + '(?:/' + COMPONENT + ')*$');
  var TAG = /^[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}$/;
  var DIGEST = /^([a-z0-9]+(?:[.+_-][a-z0-9]+)*):([a-zA-Z0-9=_-]+)$/;
  var DIGEST_HEX = { sha256: 64, sha512: 128 };

  var numberFormat = new Intl.NumberFormat();
  var selfRegion = '';
  var lastSnapshotKey = '';
  var lastSummary = '';

  function byId(id) {
    var e = document.getElementById(id);
    if (!e) throw new Error('status page: no #' + id);
    return e;
  }

  /** An element with text and plain attributes; children are nodes or strings (text nodes). */
  function el(tag, attrs, children) {
    var e = document.createElement(tag);
    if (attrs) {
      Object.keys(attrs).forEach(function (k) {
        var v = attrs[k];
        if (v === undefined || v === null || v === false) return;
        if (k === 'text') e.textContent = String(v);
        else if (k === 'class') e.className = String(v);
        else e.setAttribute(k, String(v));
      });
    }
    (children || []).forEach(function (c) {
      if (c === undefined || c === null || c === false) return;
      e.appendChild(typeof c === 'string' ? document.createTextNode(c) : c);
    });
    return e;
  }

  function quote(s) {
    s = String(s);
    return '"' + (s.length > 80 ? s.slice(0, 79) + '…' : s) + '"';
  }

  function fmtCount(n) {
    return typeof n === 'number' && isFinite(n) ? numberFormat.format(n) : '–';
  }

  function fmtSeconds(s) {
    if (typeof s !== 'number' || !isFinite(s)) return '–';
    if (s < 0.05) return '0 s';
    if (s < 10) return s.toFixed(1) + ' s';
    if (s < 90) return Math.round(s) + ' s';
    if (s < 5400) return Math.round(s / 60) + ' min';
    var h = Math.floor(s / 3600);
    return h + ' h ' + Math.round((s - h * 3600) / 60) + ' min';
  }

  function fmtBytes(b) {
    if (typeof b !== 'number' || !isFinite(b)) return '–';
    var units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
    var i = 0;
    while (b >= 1024 && i < units.length - 1) {
      b /= 1024;
      i++;
    }
    return (i === 0 ? String(b) : b.toFixed(b < 10 ? 1 : 0)) + ' ' + units[i];
  }

  function fmtTime(d) {
    return d.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit', second: '2-digit' });
  }

  function shortDigest(d) {
    var i = d.indexOf(':');
    return i > 0 && d.length > i + 13 ? d.slice(0, i + 13) + '…' : d;
  }

  // ---- talking to the node ------------------------------------------------------------------

  function ApiError(kind, message, status) {
    this.kind = kind; // 'network' | 'timeout' | 'http' | 'format'
    this.message = message;
    this.status = status;
  }

  /** GET a JSON document; rejects with an ApiError that says what went wrong in words. */
  function getJson(url, timeoutMs, outer) {
    var ctrl = new AbortController();
    var timedOut = false;
    var timer = setTimeout(function () {
      timedOut = true;
      ctrl.abort();
    }, timeoutMs);
    var onOuterAbort = function () { ctrl.abort(); };
    if (outer) outer.addEventListener('abort', onOuterAbort);
    var done = function () {
      clearTimeout(timer);
      if (outer) outer.removeEventListener('abort', onOuterAbort);
    };
    return fetch(url, { headers: { Accept: 'application/json' }, cache: 'no-store', signal: ctrl.signal })
      .then(
        function (res) {
          return res.text().then(function (text) {
            var body;
            try {
              body = text ? JSON.parse(text) : undefined;
            } catch (e) {
              body = undefined;
            }
            if (!res.ok) {
              var first = body && Array.isArray(body.errors) ? body.errors[0] : undefined;
              var what = first && typeof first.message === 'string'
                ? (typeof first.code === 'string' ? first.code + ': ' : '') + first.message
                : res.statusText || 'error';
              throw new ApiError('http', 'HTTP ' + res.status + ' ' + what, res.status);
            }
            if (body === undefined || body === null || typeof body !== 'object') {
              throw new ApiError('format', 'the node answered with something other than JSON');
            }
            return body;
          });
        },
        function () {
          if (timedOut) throw new ApiError('timeout', 'no answer within ' + Math.round(timeoutMs / 1000) + ' s');
          if (outer && outer.aborted) throw new ApiError('aborted', 'cancelled');
          throw new ApiError('network', 'the node does not answer');
        },
      )
      .then(
        function (body) { done(); return body; },
        function (err) {
          done();
          if (err instanceof ApiError) throw err;
          if (timedOut) throw new ApiError('timeout', 'no answer within ' + Math.round(timeoutMs / 1000) + ' s');
          if (outer && outer.aborted) throw new ApiError('aborted', 'cancelled');
          throw new ApiError('network', 'the answer broke off');
        },
      );
  }

  // ---- regions: live replication status -----------------------------------------------------

  var HEALTH_LABEL = { healthy: 'Healthy', lagging: 'Lagging', unhealthy: 'Unhealthy', down: 'Down' };

  /** down: no answer to health probes (when the node reports them); unhealthy: its last contact failed. */
  function peerHealth(p) {
    if (p.up === false) return 'down';
    if (p.lastError) return 'unhealthy';
    if (p.lagSeconds >= LAG_WARN_SECONDS) return 'lagging';
    return 'healthy';
  }

  function selfHealth(snap) {
    return snap.outbox && snap.outbox.lastError ? 'unhealthy' : 'healthy';
  }

  function badge(health) {
    return el('span', { class: 'badge', 'data-health': health }, [
      el('span', { class: 'dot', 'aria-hidden': 'true' }),
      HEALTH_LABEL[health] || health,
    ]);
  }

  function metric(label, value, hint) {
    return el('div', { class: 'metric', title: hint }, [el('dt', { text: label }), el('dd', { text: value })]);
  }

  function card(region, role, health, roleText, metrics, error) {
    return el('li', { class: 'card', 'data-region': region, 'data-role': role, 'data-health': health }, [
      el('div', { class: 'card-head' }, [
        el('h3', { class: 'card-title' }, [
          el('span', { class: 'card-region', text: region }),
          role === 'self' ? el('span', { class: 'tag', text: 'this node' }) : null,
        ]),
        badge(health),
      ]),
      el('p', { class: 'card-role', text: roleText }),
      el('dl', { class: 'metrics' }, metrics),
      error
        ? el('p', { class: 'card-error', title: error[1] }, [
            el('span', { class: 'clamp' }, [el('strong', { text: error[0] }), ' ', el('span', { class: 'msg', text: error[1] })]),
          ])
        : null,
    ]);
  }

  function selfCard(snap) {
    var o = snap.outbox;
    var peers = (snap.peers || []).length;
    var metrics = o
      ? [
          metric('Outbox depth', fmtCount(o.depth), 'Events written here, not yet acknowledged by NATS JetStream'),
          metric('Published', fmtCount(o.published), 'Events this node has published since it started'),
          metric('Peers', fmtCount(peers), 'Regions this node replicates from'),
        ]
      : [metric('Outbox', 'off', 'No nats.url: this node publishes no replication events'), metric('Peers', fmtCount(peers))];
    var roleText = o ? 'Publishes its changes to its peers' : 'Replication events off (no NATS)';
    return card(snap.region, 'self', selfHealth(snap), roleText, metrics, o && o.lastError ? ['Publishing failed:', o.lastError] : null);
  }

  function peerCard(p, self) {
    return card(
      p.region,
      'peer',
      peerHealth(p),
      'Peer · replicates into ' + self,
      [
        metric('Lag', fmtSeconds(p.lagSeconds), 'Age of the oldest event from this region not yet applied here'),
        metric('Pending events', fmtCount(p.pendingEvents), 'Events from this region not yet applied here'),
        metric('In flight', fmtBytes(p.bytesInFlight), 'Blob bytes being copied from this region right now'),
        metric('Applied', fmtCount(p.applied), 'Events applied since this node started'),
        metric('Repairs', fmtCount(p.repairs), 'Content the events missed, repaired by anti-entropy'),
        metric('Set aside', fmtCount(p.parked), 'Events whose content is corrupt in that region; anti-entropy tries them again'),
        metric('Failures', fmtCount(p.failures), 'Failed attempts to apply an event or reach this region'),
      ],
      p.lastError ? ['Last contact failed:', p.lastError] : p.up === false ? ['Down:', 'no answer to health probes'] : null,
    );
  }

  function setSummary(text) {
    if (text === lastSummary) return; // aria-live: announce changes, not every poll
    lastSummary = text;
    byId('summary').textContent = text;
  }

  function summarize(snap) {
    var all = [{ region: snap.region, health: selfHealth(snap) }].concat(
      (snap.peers || []).map(function (p) { return { region: p.region, health: peerHealth(p) }; }),
    );
    var by = function (h) {
      return all.filter(function (r) { return r.health === h; }).map(function (r) { return r.region; });
    };
    var down = by('down');
    var bad = by('unhealthy');
    var slow = by('lagging');
    var n = all.length + (all.length === 1 ? ' region' : ' regions');
    if (!down.length && !bad.length && !slow.length) return n + ' · all healthy';
    var parts = [n];
    if (down.length) parts.push(down.length + ' down (' + down.join(', ') + ')');
    if (bad.length) parts.push(bad.length + ' unhealthy (' + bad.join(', ') + ')');
    if (slow.length) parts.push(slow.length + ' lagging (' + slow.join(', ') + ')');
    return parts.join(' · ');
  }

  function setConn(state, text) {
    var conn = byId('conn');
    conn.setAttribute('data-conn', state);
    byId('conn-text').textContent = text;
  }

  function renderStatus(snap) {
    if (typeof snap.region !== 'string' || !Array.isArray(snap.peers)) throw new ApiError('format', 'unexpected status document');
    var list = byId('regions');
    list.removeAttribute('data-stale');
    list.setAttribute('aria-busy', 'false');
    if (snap.region !== selfRegion) {
      selfRegion = snap.region;
      byId('region').textContent = snap.region;
      document.title = 'georeg · ' + snap.region + ' · status';
    }
    setSummary(summarize(snap));
    var key = JSON.stringify(snap);
    if (key === lastSnapshotKey) return; // unchanged: keep the DOM (and any text selection) as is
    lastSnapshotKey = key;
    list.replaceChildren.apply(
      list,
      [selfCard(snap)].concat(snap.peers.map(function (p) { return peerCard(p, snap.region); })),
    );
  }

  var polling = false;
  var pollTimer = 0;

  function schedulePoll(ms) {
    clearTimeout(pollTimer);
    pollTimer = setTimeout(poll, ms);
  }

  function poll() {
    if (polling) return;
    polling = true;
    clearTimeout(pollTimer);
    getJson('v1/replication', STATUS_TIMEOUT_MS)
      .then(function (snap) {
        renderStatus(snap);
        setConn('live', 'Live · updated ' + fmtTime(new Date()));
      })
      .catch(function (err) {
        var msg = err && err.message ? err.message : String(err);
        byId('regions').setAttribute('data-stale', 'true');
        byId('regions').setAttribute('aria-busy', 'false');
        setConn('down', 'Cannot get status: ' + msg + ' · retrying');
        setSummary('Status unavailable: ' + msg);
      })
      .then(function () {
        polling = false;
        if (!document.hidden) schedulePoll(POLL_MS);
      });
  }

  // ---- where is my image? -------------------------------------------------------------------

  function badName(name) {
    return 'Not a valid repository name: ' + quote(name) + '. Use lowercase letters and digits, separated by . _ or -, with / between path parts.';
  }

  /** Parses what a person types: [host[:port]/]repository(:tag|@digest). {error} when it cannot be searched. */
  function parseRef(input) {
    var s = String(input).trim();
    if (!s) return { error: 'Enter an image reference, for example team/app:v1.' };
    if (/\s/.test(s)) return { error: 'An image reference has no spaces: ' + quote(s) + '.' };
    s = s.replace(/^(?:docker|oci|https?):\/\//, '');
    var slash = s.indexOf('/');
    if (slash > 0) {
      var first = s.slice(0, slash);
      // A registry host (with a port, or localhost) in front: this page is the registry, drop it.
      if (first.indexOf(':') >= 0 || first === 'localhost') s = s.slice(slash + 1);
    }
    var name;
    var ref;
    var kind;
    var at = s.indexOf('@');
    if (at >= 0) {
      name = s.slice(0, at);
      ref = s.slice(at + 1);
      kind = 'digest';
      var c = name.lastIndexOf(':');
      if (c > name.lastIndexOf('/')) name = name.slice(0, c); // name:tag@digest: the digest decides
    } else {
      var colon = s.lastIndexOf(':');
      if (colon <= s.lastIndexOf('/')) {
        if (!NAME.test(s)) return { error: badName(s) };
        return { error: 'Add a tag or a digest: ' + s + ':latest, for example, or ' + s + '@sha256:…' };
      }
      name = s.slice(0, colon);
      ref = s.slice(colon + 1);
      kind = 'tag';
    }
    if (!name) return { error: 'The repository name is missing: write it before the ' + (kind === 'tag' ? 'tag' : 'digest') + ', e.g. team/app:v1.' };
    if (name.length > 255) return { error: 'The repository name is longer than 255 characters.' };
    if (!NAME.test(name)) return { error: badName(name) };
    if (kind === 'tag') {
      if (!ref) return { error: 'The tag after ":" is empty.' };
      if (!TAG.test(ref)) {
        return { error: 'Not a valid tag: ' + quote(ref) + '. A tag has up to 128 letters, digits, _ . and -, and does not start with . or -.' };
      }
    } else {
      var m = DIGEST.exec(ref);
      if (!m) return { error: 'Not a valid digest: ' + quote(ref) + '. Expected sha256: followed by 64 hex digits.' };
      var len = Object.prototype.hasOwnProperty.call(DIGEST_HEX, m[1]) ? DIGEST_HEX[m[1]] : 0;
      if (!len) return { error: 'Unsupported digest algorithm ' + quote(m[1]) + ': use sha256 (or sha512).' };
      if (m[2].length !== len || !/^[a-f0-9]+$/.test(m[2])) {
        return { error: 'Not a valid ' + m[1] + ' digest: expected ' + len + ' lowercase hex digits after "' + m[1] + ':".' };
      }
    }
    return { name: name, ref: ref, kind: kind, display: kind === 'tag' ? name + ':' + ref : name + '@' + ref };
  }

  var STATE = {
    complete: { label: 'Present', detail: 'Complete' },
    incomplete: { label: 'Pending', detail: '' },
    absent: { label: 'Missing', detail: 'Not in this region' },
    unreachable: { label: 'Unreachable', detail: '' },
  };

  function stateBadge(state) {
    var s = STATE[state];
    return el('span', { class: 'badge', 'data-state': state }, [el('span', { class: 'dot', 'aria-hidden': 'true' }), s ? s.label : String(state)]);
  }

  function detailFor(r) {
    var parts = [];
    if (r.state === 'incomplete') {
      var n = Array.isArray(r.missing) ? r.missing.length : 0;
      parts.push(el('span', { text: n === 1 ? '1 item still copying' : fmtCount(n) + ' items still copying' }));
    } else if (r.state === 'unreachable') {
      parts.push(el('span', { text: 'No answer from this region' + (r.error ? ': ' : '') }));
      if (r.error) parts.push(el('span', { class: 'msg', text: r.error, title: r.error }));
    } else if (STATE[r.state]) {
      parts.push(el('span', { text: STATE[r.state].detail }));
    }
    if (typeof r.digest === 'string' && r.digest) {
      parts.push(' ');
      parts.push(el('code', { class: 'digest', title: r.digest, text: shortDigest(r.digest) }));
    }
    return parts;
  }

  function whereSummary(regions) {
    var count = function (st) { return regions.filter(function (r) { return r.state === st; }).length; };
    var total = regions.length;
    var present = count('complete');
    var pending = count('incomplete');
    var unreachable = count('unreachable');
    if (present === total) return 'Present in all ' + total + ' regions';
    if (present + pending === 0 && unreachable === 0) return 'Not in any region';
    var parts = ['Present in ' + present + ' of ' + total + ' regions'];
    if (pending) parts.push(pending + ' pending');
    if (unreachable) parts.push(unreachable + ' unreachable');
    return parts.join(' · ');
  }

  function renderWhere(q, body) {
    var regions = Array.isArray(body.regions) ? body.regions : [];
    var digests = regions
      .map(function (r) { return r.digest; })
      .filter(function (d, i, all) { return typeof d === 'string' && d && all.indexOf(d) === i; });
    var rows = regions.map(function (r) {
      var region = String(r.region);
      return el('tr', { 'data-region': region, 'data-state': String(r.state) }, [
        el('th', { scope: 'row' }, [region, region === selfRegion ? el('span', { class: 'tag', text: 'this node' }) : null]),
        el('td', {}, [stateBadge(r.state)]),
        el('td', { class: 'details' }, detailFor(r)),
      ]);
    });
    var nowhere = regions.length > 0 && regions.every(function (r) { return r.state === 'absent'; });
    var out = [
      el('div', { class: 'where-head' }, [
        el('h3', {}, [el('code', { text: q.display })]),
        el('p', { class: 'where-summary', 'data-all': nowhere ? 'absent' : undefined, text: whereSummary(regions) }),
      ]),
      digests.length === 1 ? el('p', { class: 'where-digest' }, ['Digest ', el('code', { text: digests[0] })]) : null,
      digests.length > 1
        ? el('p', { class: 'note', text: 'Regions point this tag at different digests; they converge as replication catches up.' })
        : null,
      nowhere
        ? el('p', { class: 'note', text: 'No region has it. Check the repository name and the ' + (q.kind === 'tag' ? 'tag (tags are case-sensitive).' : 'digest.') })
        : null,
      el('table', { class: 'where-table' }, [
        el('caption', { class: 'sr-only', text: 'Where ' + q.display + ' is, per region' }),
        el('thead', {}, [el('tr', {}, [el('th', { scope: 'col', text: 'Region' }), el('th', { scope: 'col', text: 'Status' }), el('th', { scope: 'col', text: 'Details' })])]),
        el('tbody', {}, rows),
      ]),
    ];
    byId('where-result').replaceChildren.apply(byId('where-result'), out.filter(Boolean));
  }

  function renderWhereError(q, err) {
    var msg;
    if (err.kind === 'http') msg = 'The node refused the search (' + err.message + ').';
    else if (err.kind === 'timeout') msg = 'No answer within ' + WHERE_TIMEOUT_MS / 1000 + ' s. A region may be slow; try again.';
    else if (err.kind === 'network') msg = 'Cannot reach this node: ' + err.message + '. Is it running?';
    else msg = 'The search failed: ' + err.message + '.';
    byId('where-result').replaceChildren(
      el('p', { class: 'error', role: 'alert' }, [el('strong', { text: 'Could not search for ' + q.display + '. ' }), msg]),
    );
  }

  function showInputError(text) {
    var e = byId('ref-error');
    var input = byId('ref');
    if (text) {
      e.textContent = text;
      e.hidden = false;
      input.setAttribute('aria-invalid', 'true');
    } else {
      e.textContent = '';
      e.hidden = true;
      input.removeAttribute('aria-invalid');
    }
  }

  var searching = null;

  function search(raw) {
    var q = parseRef(raw);
    var result = byId('where-result');
    if (q.error) {
      showInputError(q.error);
      byId('ref').focus();
      return;
    }
    showInputError('');
    try {
      history.replaceState(null, '', '?ref=' + encodeURIComponent(q.display));
    } catch (e) {
      /* a sandboxed page may not: the search works anyway */
    }
    if (searching) searching.abort();
    var ctrl = new AbortController();
    searching = ctrl;
    result.setAttribute('aria-busy', 'true');
    result.replaceChildren(el('p', { class: 'searching', text: 'Looking for ' + q.display + ' in every region…' }));
    // Validated above: name and reference hold only URL-safe characters, sent as they are.
    getJson('v1/where/' + q.name + '/' + q.ref, WHERE_TIMEOUT_MS, ctrl.signal)
      .then(
        function (body) { if (searching === ctrl) renderWhere(q, body); },
        function (err) { if (searching === ctrl) renderWhereError(q, err); },
      )
      .then(function () {
        if (searching !== ctrl) return;
        searching = null;
        result.setAttribute('aria-busy', 'false');
      });
  }

  function start() {
    var form = byId('where-form');
    var input = byId('ref');
    form.addEventListener('submit', function (ev) {
      ev.preventDefault();
      search(input.value);
    });
    input.addEventListener('input', function () {
      if (input.getAttribute('aria-invalid')) showInputError('');
    });
    document.addEventListener('visibilitychange', function () {
      if (document.hidden) clearTimeout(pollTimer);
      else poll();
    });
    var initial = new URLSearchParams(location.search).get('ref');
    if (initial) {
      input.value = initial;
      search(initial);
    }
    poll();
  }

  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', start);
  else start();
})();
`;
