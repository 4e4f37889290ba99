// @ts-check
/** Building the status page's DOM: strings only ever become text or plain attributes, never markup. */

/** @typedef {Node | string | null | undefined | false} Child */

/**
 * An element with text and plain attributes; children are nodes or strings (text nodes).
 * @template {keyof HTMLElementTagNameMap} K
 * @param {K} tag
 * @param {Record<string, string | number | boolean | null | undefined>} [attrs] `text` sets the text, `class` the class
 * @param {Child[]} [children]
 */
export const el = (tag, attrs = {}, children = []) => {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k === 'text') e.textContent = String(v);
    else if (k === 'class') e.className = String(v);
    else e.setAttribute(k, String(v));
  }
  for (const c of children) if (c) e.append(c);
  return e;
};
