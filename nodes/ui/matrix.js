// @ts-check
/**
 * The region-by-region matrix on the status page: replication into each region (rows) from each
 * other region (columns), as each region itself reports it (GET /georeg/v1/replication?all=true,
 * gathered by the node the page is opened on). A region that cannot be asked shows as
 * unreachable, with how many of this region's events it has not applied yet (from this region's
 * JetStream), not as "lag 0".
 */
import { el } from './dom.js';

/** @typedef {import('../src/status.js').NodeStatusSnapshot} NodeStatusSnapshot */
/** @typedef {NodeStatusSnapshot['peers'][number]} PeerStatus */

/** A peer this far behind is shown as lagging. */
const LAG_WARN_SECONDS = 10;

/**
 * @param {PeerStatus[]} peers what region `into` reports
 * @param {string} from
 * @returns {[string, string]} state and text
 */
const reported = (peers, from) => {
  const p = peers.find((x) => x.region === from);
  if (!p) return ['none', 'not replicated'];
  const text = `lag ${p.lagSeconds.toFixed(1)} s · ${p.pendingEvents} pending`;
  if (p.up === false) return ['down', `${from} down · ${text}`];
  return [p.lagSeconds >= LAG_WARN_SECONDS ? 'lagging' : 'ok', text];
};

/**
 * The matrix as a table, or null when the status has no other regions' views.
 * @param {NodeStatusSnapshot} snap
 */
export const matrixTable = (snap) => {
  if (!snap.regions) return null;
  const names = [snap.region, ...snap.peers.map((p) => p.region)];
  const views = new Map(snap.regions.map((v) => [v.region, v]));
  /** @param {string} into */
  const row = (into) => {
    const view = views.get(into);
    const cells = names.map((from) => {
      /** @type {[string, string]} */
      let shown;
      if (from === into) shown = ['self', '—'];
      else if (into === snap.region) shown = reported(snap.peers, from);
      else if (view?.peers) shown = reported(view.peers, from);
      else if (from === snap.region && view?.pendingFromHere !== undefined)
        shown = ['unreachable', `unreachable · ${view.pendingFromHere} of ${snap.region}’s events not applied`];
      else shown = ['unreachable', 'unreachable'];
      return el('td', {
        'data-from': from,
        'data-state': shown[0],
        title: into === snap.region || from === into ? undefined : view?.error,
        text: shown[1],
      });
    });
    return el('tr', { 'data-into': into }, [el('th', { scope: 'row', text: into }), ...cells]);
  };
  return el('table', { class: 'matrix' }, [
    el('caption', { text: 'Replication into each region (rows) from each region (columns), as each region reports it' }),
    el('thead', {}, [
      el('tr', {}, [el('th', { scope: 'col', text: 'into \\ from' }), ...names.map((n) => el('th', { scope: 'col', text: n }))]),
    ]),
    el('tbody', {}, names.map(row)),
  ]);
};
