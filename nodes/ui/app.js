// @ts-check
/**
 * The status page's script, served at GET /georeg/ui/app.js (a separate file: the page's CSP
 * allows no inline script). A browser module, no build step, no dependencies; type-checked by
 * nodes/ui/tsconfig.json.
 *
 * Safety: every string from the API or the user reaches the DOM through `textContent` or a
 * plain attribute (`title`, `data-*`), never parsed as markup. Requests go only to this
 * node's own JSON API, by URLs relative to the page (/georeg/ui -> /georeg/v1/...).
 */
import { DIGEST, DIGEST_HEX_LENGTHS, HEX, MAX_NAME_LENGTH, NAME, TAG } from './grammar.js';
import { authFor, currentSession, signIn, signOut } from './session.js';
import { el } from './dom.js';
import { matrixTable } from './matrix.js';

/** @typedef {import('./dom.js').Child} Child */

/** @typedef {import('../src/status.js').NodeStatusSnapshot} NodeStatusSnapshot */
/** @typedef {NodeStatusSnapshot['peers'][number]} PeerStatus */
/** @typedef {import('../src/status.js').RegionLocation} RegionLocation */
/** @typedef {{ repository: string, reference: string, regions: RegionLocation[] }} WhereAnswer what GET /georeg/v1/where/... answers */
/** @typedef {'healthy' | 'lagging' | 'unhealthy' | 'down'} Health */
/** @typedef {{ name: string, ref: string, kind: 'tag' | 'digest', display: string }} Query */

const POLL_MS = 2000;
const STATUS_TIMEOUT_MS = 8000;
const WHERE_TIMEOUT_MS = 20000;
/** A peer this far behind is shown as lagging (amber). */
const LAG_WARN_SECONDS = 10;

const numberFormat = new Intl.NumberFormat();
let selfRegion = '';
let lastSnapshotKey = '';
let lastSummary = '';

/** @param {string} id */
const byId = (id) => {
  const e = document.getElementById(id);
  if (!e) throw new Error(`status page: no #${id}`);
  return e;
};

/** @param {string} s */
const quote = (s) => `"${s.length > 80 ? `${s.slice(0, 79)}…` : s}"`;

/** @param {unknown} n */
const fmtCount = (n) => (typeof n === 'number' && Number.isFinite(n) ? numberFormat.format(n) : '–');

/** @param {number | undefined} ms */
const fmtMs = (ms) => (typeof ms !== 'number' || !Number.isFinite(ms) ? '–' : ms < 10 ? `${ms.toFixed(1)} ms` : `${Math.round(ms)} ms`);

/** @param {unknown} s seconds */
const fmtSeconds = (s) => {
  if (typeof s !== 'number' || !Number.isFinite(s)) return '–';
  if (s < 0.05) return '0 s';
  if (s < 10) return `${s.toFixed(1)} s`;
  if (s < 90) return `${Math.round(s)} s`;
  if (s < 5400) return `${Math.round(s / 60)} min`;
  const h = Math.floor(s / 3600);
  return `${h} h ${Math.round((s - h * 3600) / 60)} min`;
};

const BYTE_UNITS = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];

/** @param {unknown} b bytes */
const fmtBytes = (b) => {
  if (typeof b !== 'number' || !Number.isFinite(b)) return '–';
  let i = 0;
  while (b >= 1024 && i < BYTE_UNITS.length - 1) {
    b /= 1024;
    i++;
  }
  return `${i === 0 ? String(b) : b.toFixed(b < 10 ? 1 : 0)} ${BYTE_UNITS[i]}`;
};

/** @param {Date} d */
const fmtTime = (d) => d.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit', second: '2-digit' });

/** @param {string} d a digest */
const shortDigest = (d) => {
  const i = d.indexOf(':');
  return i > 0 && d.length > i + 13 ? `${d.slice(0, i + 13)}…` : d;
};

// ---- talking to the node ------------------------------------------------------------------

class ApiError extends Error {
  /**
   * @param {'network' | 'timeout' | 'aborted' | 'http' | 'format'} kind
   * @param {string} message what went wrong, in words
   * @param {number} [status] the HTTP status of an 'http' error
   */
  constructor(kind, message, status) {
    super(message);
    this.kind = kind;
    this.status = status;
  }
}

/** @param {string} text */
const parseJson = (text) => {
  try {
    return text ? /** @type {unknown} */ (JSON.parse(text)) : undefined;
  } catch {
    return undefined;
  }
};

/**
 * The first OCI error in an error body, as `CODE: message`.
 * @param {unknown} body
 */
const ociError = (body) => {
  const errors = /** @type {{ errors?: unknown } | null | undefined} */ (body)?.errors;
  const first = Array.isArray(errors) ? errors[0] : undefined;
  if (typeof first?.message !== 'string') return undefined;
  return typeof first.code === 'string' ? `${first.code}: ${first.message}` : first.message;
};

/**
 * The JSON object the node answered, or the ApiError it amounts to.
 * @param {Response} res
 * @param {string} text
 */
const answer = (res, text) => {
  const body = parseJson(text);
  if (!res.ok) throw new ApiError('http', `HTTP ${res.status} ${ociError(body) ?? (res.statusText || 'error')}`, res.status);
  if (typeof body !== 'object' || body === null) throw new ApiError('format', 'the node answered with something other than JSON');
  return body;
};

/**
 * GET a JSON object; rejects with an ApiError that says what went wrong in words.
 * @param {string} url
 * @param {number} timeoutMs
 * @param {AbortSignal} [outer] cancels the request
 * @param {Record<string, string>} [headers] sent besides Accept (a search's Authorization)
 * @returns {Promise<object>}
 */
const getJson = async (url, timeoutMs, outer, headers = {}) => {
  const ctrl = new AbortController();
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    ctrl.abort();
  }, timeoutMs);
  const onOuterAbort = () => ctrl.abort();
  outer?.addEventListener('abort', onOuterAbort);
  /** @param {string} network what to say when neither the timeout nor `outer` stopped the request */
  const failure = (network) => {
    if (timedOut) return new ApiError('timeout', `no answer within ${Math.round(timeoutMs / 1000)} s`);
    if (outer?.aborted) return new ApiError('aborted', 'cancelled');
    return new ApiError('network', network);
  };
  try {
    const res = await fetch(url, { headers: { ...headers, Accept: 'application/json' }, cache: 'no-store', signal: ctrl.signal }).catch(
      () => {
        throw failure('the node does not answer');
      },
    );
    const text = await res.text().catch(() => {
      throw failure('the answer broke off');
    });
    return answer(res, text);
  } finally {
    clearTimeout(timer);
    outer?.removeEventListener('abort', onOuterAbort);
  }
};

// ---- regions: live replication status -----------------------------------------------------

/** @type {Record<Health, string>} */
const HEALTH_LABEL = { healthy: 'Healthy', lagging: 'Lagging', unhealthy: 'Unhealthy', down: 'Down' };

/**
 * down: no answer to health probes (when the node reports them); unhealthy: its last contact failed.
 * @param {PeerStatus} p
 * @returns {Health}
 */
const peerHealth = (p) => {
  if (p.up === false) return 'down';
  if (p.lastError) return 'unhealthy';
  if (p.lagSeconds >= LAG_WARN_SECONDS) return 'lagging';
  return 'healthy';
};

/**
 * @param {NodeStatusSnapshot} snap
 * @returns {Health}
 */
const selfHealth = (snap) => (snap.outbox?.lastError ? 'unhealthy' : 'healthy');

/** @param {Health} health */
const badge = (health) =>
  el('span', { class: 'badge', 'data-health': health }, [el('span', { class: 'dot', 'aria-hidden': 'true' }), HEALTH_LABEL[health]]);

/**
 * @param {string} label
 * @param {string} value
 * @param {string} [hint]
 */
const metric = (label, value, hint) => el('div', { class: 'metric', title: hint }, [el('dt', { text: label }), el('dd', { text: value })]);

/** @param {[string, string] | null} error what failed, and the message */
const cardError = (error) =>
  error &&
  el('p', { class: 'card-error', title: error[1] }, [
    el('span', { class: 'clamp' }, [el('strong', { text: error[0] }), ' ', el('span', { class: 'msg', text: error[1] })]),
  ]);

/**
 * @param {string} region
 * @param {'self' | 'peer'} role
 * @param {Health} health
 * @param {string} roleText
 * @param {HTMLElement[]} metrics
 * @param {[string, string] | null} error
 */
const card = (region, role, health, roleText, metrics, error) =>
  el('li', { class: 'card', 'data-region': region, 'data-role': role, 'data-health': health }, [
    el('div', { class: 'card-head' }, [
      el('h3', { class: 'card-title' }, [
        el('span', { class: 'card-region', text: region }),
        role === 'self' && el('span', { class: 'tag', text: 'this node' }),
      ]),
      badge(health),
    ]),
    el('p', { class: 'card-role', text: roleText }),
    el('dl', { class: 'metrics' }, metrics),
    cardError(error),
  ]);

/** @param {NonNullable<NodeStatusSnapshot['stream']>} st this region's event stream, as JetStream last said */
const streamMetric = (st) => {
  const age = st.oldest ? fmtSeconds((Date.now() - Date.parse(st.oldest)) / 1000) : '–';
  return metric(
    'Event stream',
    `${fmtCount(st.messages)} · ${fmtBytes(st.bytes)} · oldest ${age}`,
    "Events this region's JetStream stream keeps for its peers, their bytes, and the age of the oldest (replication.streamMaxAgeSeconds bounds it)",
  );
};

/** @param {NodeStatusSnapshot} snap */
const selfCard = (snap) => {
  const o = snap.outbox;
  const peers = snap.peers.length;
  const metrics = o
    ? [
        metric('Outbox depth', fmtCount(o.depth), 'Events written here, not yet acknowledged by NATS JetStream'),
        metric('Published', fmtCount(o.published), 'Events this node has published since it started'),
        metric('Peers', fmtCount(peers), 'Regions this node replicates from'),
        ...(snap.stream ? [streamMetric(snap.stream)] : []),
        metric('Routing', snap.drained ? 'drained' : 'in routing', 'A drained region is sent no client (georeg region drain)'),
      ]
    : [metric('Outbox', 'off', 'No nats.url: this node publishes no replication events'), metric('Peers', fmtCount(peers))];
  const roleText = o ? 'Publishes its changes to its peers' : 'Replication events off (no NATS)';
  return card(snap.region, 'self', selfHealth(snap), roleText, metrics, o?.lastError ? ['Publishing failed:', o.lastError] : null);
};

/**
 * @param {PeerStatus} p
 * @returns {[string, string] | null}
 */
const peerError = (p) => {
  if (p.lastError) return ['Last contact failed:', p.lastError];
  return p.up === false ? ['Down:', 'no answer to health probes'] : null;
};

/**
 * @param {PeerStatus} p
 * @param {string} self this node's region
 */
const peerCard = (p, self) =>
  card(
    p.region,
    'peer',
    peerHealth(p),
    `Peer · replicates into ${self}`,
    [
      metric('Lag', fmtSeconds(p.lagSeconds), 'Age of the oldest event from this region not yet applied here'),
      metric('Pending events', fmtCount(p.pendingEvents), 'Events from this region not yet applied here'),
      metric('In flight', fmtBytes(p.bytesInFlight), 'Blob bytes being copied from this region right now'),
      metric('Round trip', fmtMs(p.rttMs), 'Health probe round trip, smoothed: which region is nearest'),
      metric('Routing', p.drained ? 'drained' : 'in routing', 'A drained region is sent no client (georeg region drain)'),
      metric('Applied', fmtCount(p.applied), 'Events applied since this node started'),
      metric('Repairs', fmtCount(p.repairs), 'Content the events missed, repaired by anti-entropy'),
      metric('Set aside', fmtCount(p.parked), 'Events whose content is corrupt in that region; anti-entropy tries them again'),
      metric('Failures', fmtCount(p.failures), 'Failed attempts to apply an event or reach this region'),
    ],
    peerError(p),
  );

/** @param {string} text */
const setSummary = (text) => {
  if (text === lastSummary) return; // aria-live: announce changes, not every poll
  lastSummary = text;
  byId('summary').textContent = text;
};

/** @param {NodeStatusSnapshot} snap */
const summarize = (snap) => {
  const all = [{ region: snap.region, health: selfHealth(snap) }, ...snap.peers.map((p) => ({ region: p.region, health: peerHealth(p) }))];
  const n = `${all.length} ${all.length === 1 ? 'region' : 'regions'}`;
  /** @type {Health[]} */
  const bad = ['down', 'unhealthy', 'lagging'];
  const parts = bad.flatMap((h) => {
    const regions = all.filter((r) => r.health === h).map((r) => r.region);
    return regions.length ? [`${regions.length} ${h} (${regions.join(', ')})`] : [];
  });
  return parts.length ? [n, ...parts].join(' · ') : `${n} · all healthy`;
};

/**
 * @param {'connecting' | 'live' | 'down'} state
 * @param {string} text
 */
const setConn = (state, text) => {
  byId('conn').setAttribute('data-conn', state);
  byId('conn-text').textContent = text;
};

/** @param {object} body what GET /georeg/v1/replication answered */
const renderStatus = (body) => {
  const snap = /** @type {NodeStatusSnapshot} */ (body);
  if (typeof snap.region !== 'string' || !Array.isArray(snap.peers)) throw new ApiError('format', 'unexpected status document');
  const list = byId('regions');
  list.removeAttribute('data-stale');
  list.setAttribute('aria-busy', 'false');
  if (snap.region !== selfRegion) {
    selfRegion = snap.region;
    byId('region').textContent = snap.region;
    document.title = `georeg · ${snap.region} · status`;
  }
  setSummary(summarize(snap));
  const key = JSON.stringify(snap);
  if (key === lastSnapshotKey) return; // unchanged: keep the DOM (and any text selection) as is
  lastSnapshotKey = key;
  list.replaceChildren(selfCard(snap), ...snap.peers.map((p) => peerCard(p, snap.region)));
  byId('matrix').replaceChildren(matrixTable(snap) ?? '');
};

let polling = false;
let pollTimer = 0;

/** @param {number} ms */
const schedulePoll = (ms) => {
  clearTimeout(pollTimer);
  pollTimer = setTimeout(poll, ms);
};

/** @param {unknown} err */
const messageOf = (err) => (err instanceof Error ? err.message : String(err));

/** @param {unknown} err */
const showStatusError = (err) => {
  const msg = messageOf(err);
  const list = byId('regions');
  list.setAttribute('data-stale', 'true');
  list.setAttribute('aria-busy', 'false');
  setConn('down', `Cannot get status: ${msg} · retrying`);
  setSummary(`Status unavailable: ${msg}`);
};

const poll = async () => {
  if (polling) return;
  polling = true;
  clearTimeout(pollTimer);
  try {
    renderStatus(await getJson('v1/replication?all=true', STATUS_TIMEOUT_MS));
    setConn('live', `Live · updated ${fmtTime(new Date())}`);
  } catch (err) {
    showStatusError(err);
  }
  polling = false;
  if (!document.hidden) schedulePoll(POLL_MS);
};

// ---- where is my image? -------------------------------------------------------------------

/** @param {string} name */
const badName = (name) =>
  `Not a valid repository name: ${quote(name)}. Use lowercase letters and digits, separated by . _ or -, with / between path parts.`;

/**
 * What a person typed without a scheme or a registry host (with a port, or localhost) in
 * front: this page is the registry.
 * @param {string} s
 */
const withoutHost = (s) => {
  s = s.replace(/^(?:docker|oci|https?):\/\//, '');
  const slash = s.indexOf('/');
  const first = slash > 0 ? s.slice(0, slash) : '';
  return first.includes(':') || first === 'localhost' ? s.slice(slash + 1) : s;
};

/**
 * repository(:tag|@digest), split; a string when there is no tag or digest (what to say).
 * @param {string} s
 * @returns {Omit<Query, 'display'> | string}
 */
const splitRef = (s) => {
  const at = s.indexOf('@');
  if (at >= 0) {
    const name = s.slice(0, at);
    const c = name.lastIndexOf(':');
    // name:tag@digest: the digest decides
    return { name: c > name.lastIndexOf('/') ? name.slice(0, c) : name, ref: s.slice(at + 1), kind: 'digest' };
  }
  const colon = s.lastIndexOf(':');
  if (colon > s.lastIndexOf('/')) return { name: s.slice(0, colon), ref: s.slice(colon + 1), kind: 'tag' };
  if (!NAME.test(s)) return badName(s);
  return `Add a tag or a digest: ${s}:latest, for example, or ${s}@sha256:…`;
};

/** @param {string} name */
const nameError = (name) => {
  if (name.length > MAX_NAME_LENGTH) return `The repository name is longer than ${MAX_NAME_LENGTH} characters.`;
  return NAME.test(name) ? undefined : badName(name);
};

/** @param {string} tag */
const tagError = (tag) => {
  if (!tag) return 'The tag after ":" is empty.';
  if (TAG.test(tag)) return undefined;
  return `Not a valid tag: ${quote(tag)}. A tag has up to 128 letters, digits, _ . and -, and does not start with . or -.`;
};

/** @param {string} digest */
const digestError = (digest) => {
  if (!DIGEST.test(digest)) return `Not a valid digest: ${quote(digest)}. Expected sha256: followed by 64 hex digits.`;
  const i = digest.indexOf(':');
  const alg = digest.slice(0, i);
  const hex = digest.slice(i + 1);
  const len = DIGEST_HEX_LENGTHS.get(alg);
  if (!len) return `Unsupported digest algorithm ${quote(alg)}: use sha256 (or sha512).`;
  if (hex.length === len && HEX.test(hex)) return undefined;
  return `Not a valid ${alg} digest: expected ${len} lowercase hex digits after "${alg}:".`;
};

/**
 * Parses what a person types: [host[:port]/]repository(:tag|@digest); a string when it cannot
 * be searched (what to say).
 * @param {string} input
 * @returns {Query | string}
 */
const parseRef = (input) => {
  const s = input.trim();
  if (!s) return 'Enter an image reference, for example team/app:v1.';
  if (/\s/.test(s)) return `An image reference has no spaces: ${quote(s)}.`;
  const q = splitRef(withoutHost(s));
  if (typeof q === 'string') return q;
  if (!q.name) return `The repository name is missing: write it before the ${q.kind}, e.g. team/app:v1.`;
  const error = nameError(q.name) ?? (q.kind === 'tag' ? tagError(q.ref) : digestError(q.ref));
  return error ?? { ...q, display: `${q.name}${q.kind === 'tag' ? ':' : '@'}${q.ref}` };
};

/** @type {Map<string, { label: string, detail: string }>} */
const STATE = new Map([
  ['complete', { label: 'Present', detail: 'Complete' }],
  ['incomplete', { label: 'Pending', detail: '' }],
  ['absent', { label: 'Missing', detail: 'Not in this region' }],
  ['unreachable', { label: 'Unreachable', detail: '' }],
]);

/** @param {string} state */
const stateBadge = (state) =>
  el('span', { class: 'badge', 'data-state': state }, [
    el('span', { class: 'dot', 'aria-hidden': 'true' }),
    STATE.get(state)?.label ?? state,
  ]);

/**
 * @param {RegionLocation} r
 * @returns {Child[]}
 */
const stateDetail = (r) => {
  if (r.state === 'incomplete') {
    const n = Array.isArray(r.missing) ? r.missing.length : 0;
    return [el('span', { text: n === 1 ? '1 item still copying' : `${fmtCount(n)} items still copying` })];
  }
  if (r.state === 'unreachable') {
    return [
      el('span', { text: `No answer from this region${r.error ? ': ' : ''}` }),
      r.error && el('span', { class: 'msg', text: r.error, title: r.error }),
    ];
  }
  const known = STATE.get(r.state);
  return known ? [el('span', { text: known.detail })] : [];
};

/** @param {RegionLocation} r */
const detailFor = (r) => {
  const parts = stateDetail(r);
  const d = r.digest;
  return typeof d === 'string' && d ? [...parts, ' ', el('code', { class: 'digest', title: d, text: shortDigest(d) })] : parts;
};

/** @param {RegionLocation[]} regions */
const whereSummary = (regions) => {
  /** @param {RegionLocation['state']} st */
  const count = (st) => regions.filter((r) => r.state === st).length;
  const total = regions.length;
  const present = count('complete');
  const pending = count('incomplete');
  const unreachable = count('unreachable');
  if (present === total) return `Present in all ${total} regions`;
  if (present + pending === 0 && unreachable === 0) return 'Not in any region';
  const parts = [`Present in ${present} of ${total} regions`];
  if (pending) parts.push(`${pending} pending`);
  if (unreachable) parts.push(`${unreachable} unreachable`);
  return parts.join(' · ');
};

/** @param {RegionLocation} r */
const whereRow = (r) => {
  const region = String(r.region);
  return el('tr', { 'data-region': region, 'data-state': String(r.state) }, [
    el('th', { scope: 'row' }, [region, region === selfRegion && el('span', { class: 'tag', text: 'this node' })]),
    el('td', {}, [stateBadge(r.state)]),
    el('td', { class: 'details' }, detailFor(r)),
  ]);
};

/**
 * @param {Query} q
 * @param {RegionLocation[]} regions
 */
const whereTable = (q, regions) =>
  el('table', { class: 'where-table' }, [
    el('caption', { class: 'sr-only', text: `Where ${q.display} is, per region` }),
    el('thead', {}, [
      el('tr', {}, [
        el('th', { scope: 'col', text: 'Region' }),
        el('th', { scope: 'col', text: 'Status' }),
        el('th', { scope: 'col', text: 'Details' }),
      ]),
    ]),
    el('tbody', {}, regions.map(whereRow)),
  ]);

/**
 * The notes under the search result's head: the digest, or that regions disagree, or that none has it.
 * @param {Query} q
 * @param {RegionLocation[]} regions
 * @param {boolean} nowhere
 */
const whereNotes = (q, regions, nowhere) => {
  /** @type {string[]} */
  const digests = [];
  for (const { digest } of regions) if (typeof digest === 'string' && digest && !digests.includes(digest)) digests.push(digest);
  const notes = [
    digests.length === 1 && el('p', { class: 'where-digest' }, ['Digest ', el('code', { text: digests[0] })]),
    digests.length > 1 &&
      el('p', { class: 'note', text: 'Regions point this tag at different digests; they converge as replication catches up.' }),
    nowhere &&
      el('p', {
        class: 'note',
        text: `No region has it. Check the repository name and the ${q.kind === 'tag' ? 'tag (tags are case-sensitive).' : 'digest.'}`,
      }),
  ];
  return notes.filter((n) => n !== false);
};

/**
 * @param {Query} q
 * @param {object} body what GET /georeg/v1/where/... answered
 */
const renderWhere = (q, body) => {
  const answered = /** @type {WhereAnswer} */ (body).regions;
  const regions = Array.isArray(answered) ? answered : [];
  const nowhere = regions.length > 0 && regions.every((r) => r.state === 'absent');
  byId('where-result').replaceChildren(
    el('div', { class: 'where-head' }, [
      el('h3', {}, [el('code', { text: q.display })]),
      el('p', { class: 'where-summary', 'data-all': nowhere ? 'absent' : undefined, text: whereSummary(regions) }),
    ]),
    ...whereNotes(q, regions, nowhere),
    whereTable(q, regions),
  );
};

/** @param {unknown} err */
const whereErrorText = (err) => {
  const kind = err instanceof ApiError ? err.kind : undefined;
  if (kind === 'http') return `The node refused the search (${messageOf(err)}).`;
  if (kind === 'timeout') return `No answer within ${WHERE_TIMEOUT_MS / 1000} s. A region may be slow; try again.`;
  if (kind === 'network') return `Cannot reach this node: ${messageOf(err)}. Is it running?`;
  return `The search failed: ${messageOf(err)}.`;
};

/**
 * @param {Query} q
 * @param {unknown} err
 */
const renderWhereError = (q, err) => {
  byId('where-result').replaceChildren(
    el('p', { class: 'error', role: 'alert' }, [el('strong', { text: `Could not search for ${q.display}. ` }), whereErrorText(err)]),
  );
};

/** @param {string} text empty: no error */
const showInputError = (text) => {
  const e = byId('ref-error');
  const input = byId('ref');
  e.textContent = text;
  e.hidden = !text;
  if (text) input.setAttribute('aria-invalid', 'true');
  else input.removeAttribute('aria-invalid');
};

/** @type {AbortController | null} */
let searching = null;

/** @param {Query} q */
const rememberSearch = (q) => {
  try {
    history.replaceState(null, '', `?ref=${encodeURIComponent(q.display)}`);
  } catch {
    /* a sandboxed page may not: the search works anyway */
  }
};

/** @param {string} raw what the person typed */
const search = async (raw) => {
  const q = parseRef(raw);
  if (typeof q === 'string') {
    showInputError(q);
    byId('ref').focus();
    return;
  }
  showInputError('');
  rememberSearch(q);
  searching?.abort();
  const ctrl = new AbortController();
  searching = ctrl;
  const result = byId('where-result');
  result.setAttribute('aria-busy', 'true');
  result.replaceChildren(el('p', { class: 'searching', text: `Looking for ${q.display} in every region…` }));
  try {
    // Validated above: name and reference hold only URL-safe characters, sent as they are.
    const body = await getJson(`v1/where/${q.name}/${q.ref}`, WHERE_TIMEOUT_MS, ctrl.signal, await authFor(q.name));
    if (searching === ctrl) renderWhere(q, body);
  } catch (err) {
    if (searching === ctrl) renderWhereError(q, err);
    // Authentication is on and this tab is not signed in (or may not pull it): offer to sign in.
    if (err instanceof ApiError && err.status === 401) renderAccount(true);
  }
  if (searching !== ctrl) return;
  searching = null;
  result.setAttribute('aria-busy', 'false');
};

// ---- signing in (a node with authentication on) --------------------------------------------

/** @param {boolean} [offer] show the sign-in form (a search was refused for want of it) */
const renderAccount = (offer = false) => {
  const s = currentSession();
  byId('account-state').textContent = s ? `Signed in as ${s.user} (in this tab only).` : '';
  byId('signout').hidden = !s;
  byId('signin-open').hidden = Boolean(s) || offer;
  byId('signin-form').hidden = Boolean(s) || !offer;
  if (offer && !s) /** @type {HTMLInputElement} */ (byId('signin-user')).focus();
};

/** @param {string} text empty: no error */
const showSignInError = (text) => {
  const e = byId('signin-error');
  e.textContent = text;
  e.hidden = !text;
};

const startAccount = () => {
  const user = /** @type {HTMLInputElement} */ (byId('signin-user'));
  const password = /** @type {HTMLInputElement} */ (byId('signin-password'));
  byId('signin-open').addEventListener('click', () => renderAccount(true));
  byId('signout').addEventListener('click', () => {
    signOut();
    renderAccount();
    byId('where-result').replaceChildren();
  });
  byId('signin-form').addEventListener('submit', async (ev) => {
    ev.preventDefault();
    showSignInError('');
    try {
      await signIn(user.value.trim(), password.value);
    } catch (e) {
      showSignInError(`Could not sign in: ${messageOf(e)}.`);
      return;
    } finally {
      password.value = '';
    }
    renderAccount();
    const ref = /** @type {HTMLInputElement} */ (byId('ref')).value;
    if (ref) search(ref);
  });
  renderAccount();
};

const start = () => {
  const input = /** @type {HTMLInputElement} */ (byId('ref'));
  byId('where-form').addEventListener('submit', (ev) => {
    ev.preventDefault();
    search(input.value);
  });
  input.addEventListener('input', () => {
    if (input.getAttribute('aria-invalid')) showInputError('');
  });
  document.addEventListener('visibilitychange', () => {
    if (document.hidden) clearTimeout(pollTimer);
    else poll();
  });
  const initial = new URLSearchParams(location.search).get('ref');
  if (initial) {
    input.value = initial;
    search(initial);
  }
  startAccount();
  poll();
};

// A module runs once the document is parsed.
start();
