// Small DOM and API helpers shared by the dashboard's views. Values from the World are
// always set as text, never parsed as HTML.
const svgNamespace = 'http://www.w3.org/2000/svg';

/** `h('td', { class: 'mono' }, 'text', node)`: an element with attributes and children. */
export function h(tag, attributes = {}, ...children) {
  const element = tag.startsWith('svg:')
    ? document.createElementNS(svgNamespace, tag.slice(4))
    : document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (value === undefined || value === false) continue;
    if (name.startsWith('on')) element.addEventListener(name.slice(2), value);
    else element.setAttribute(name, String(value));
  }
  for (const child of children.flat()) {
    if (child === undefined || child === null) continue;
    element.append(typeof child === 'string' || typeof child === 'number' ? String(child) : child);
  }
  return element;
}

export async function api(path, options = {}) {
  const response = await fetch(path, {
    ...options,
    headers: options.body ? { 'content-type': 'application/json' } : {},
  });
  const body = await response.json();
  if (!response.ok) throw new Error(body.error?.message ?? `HTTP ${response.status}`);
  return body;
}

export const time = (ms) => (ms === undefined ? '-' : new Date(ms).toISOString().replace('T', ' ').replace('Z', ''));
export const statusBadge = (status) => h('span', { class: `status status-${status}`, 'data-status': status }, status);
export const json = (value) => h('pre', {}, value === undefined ? '-' : JSON.stringify(value, null, 2));
/** One line, opening to the full value when it is long. */
export function compactJson(value) {
  const line = JSON.stringify(value);
  if (line.length <= 100) return h('code', {}, line);
  return h('details', {}, h('summary', { class: 'mono' }, `${line.slice(0, 100)}…`), json(value));
}
/** Inline attempts record no start event, so attempts are counted from the outcome and retries. */
export const attemptsOf = (step) => step.retries + (step.status === 'pending' ? 0 : 1);
export const runLink = (runId) => h('a', { href: `#/runs/${encodeURIComponent(runId)}` }, runId);
export const terminal = (status) => status === 'completed' || status === 'failed' || status === 'cancelled';

export function setLive(on) {
  document.getElementById('live').classList.toggle('on', on);
}
