// The dashboard page: a hash router over two views (the run list and a run), rendered with
// plain DOM calls. Values from the World are always set as text, never parsed as HTML.
import { formatDuration, timelineModel } from './timeline.js';

const page = document.getElementById('page');
const svgNamespace = 'http://www.w3.org/2000/svg';
const state = { info: { readOnly: true }, filter: '', workflow: '', live: undefined, timer: undefined };

/** `h('td', { class: 'mono' }, 'text', node)`: an element with attributes and children. */
function h(tag, attributes = {}, ...children) {
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

async function api(path, options = {}) {
  const response = await fetch(path, {
    ...options,
    headers: options.body ? { 'content-type': 'application/json' } : {},
  });
  const body = await response.json();
  if (!response.ok) throw new Error(body.error?.message ?? `HTTP ${response.status}`);
  return body;
}

const time = (ms) => (ms === undefined ? '-' : new Date(ms).toISOString().replace('T', ' ').replace('Z', ''));
const statusBadge = (status) => h('span', { class: `status status-${status}`, 'data-status': status }, status);
const json = (value) => h('pre', {}, value === undefined ? '-' : JSON.stringify(value, null, 2));
/** One line, opening to the full value when it is long. */
function compactJson(value) {
  const line = JSON.stringify(value);
  if (line.length <= 100) return h('code', {}, line);
  return h('details', {}, h('summary', { class: 'mono' }, `${line.slice(0, 100)}…`), json(value));
}
/** Inline attempts record no start event, so attempts are counted from the outcome and retries. */
const attemptsOf = (step) => step.retries + (step.status === 'pending' ? 0 : 1);
const runLink = (runId) => h('a', { href: `#/runs/${encodeURIComponent(runId)}` }, runId);
const terminal = (status) => status === 'completed' || status === 'failed' || status === 'cancelled';

function setLive(on) {
  document.getElementById('live').classList.toggle('on', on);
}

/** Stops whatever kept the previous view current. */
function leaveView() {
  state.live?.close();
  state.live = undefined;
  clearTimeout(state.timer);
  state.stream?.close();
  state.stream = undefined;
  setLive(false);
}

async function showRunList() {
  const query = new URLSearchParams();
  if (state.filter) query.set('status', state.filter);
  if (state.workflow) query.set('workflow', state.workflow);
  const list = await api(`/api/runs?${query}`);
  const total = Object.values(list.counts).reduce((sum, count) => sum + count, 0);
  const filterButton = (status, label, count) =>
    h(
      'button',
      {
        class: state.filter === status ? 'active' : undefined,
        'data-filter': status || 'all',
        onclick: () => {
          state.filter = status;
          render();
        },
      },
      `${label} (${count})`,
    );
  const workflowSelect = h(
    'select',
    {
      id: 'workflow-filter',
      onchange: (event) => {
        state.workflow = event.target.value;
        render();
      },
    },
    h('option', { value: '' }, 'all workflows'),
    list.workflows.map((name) => h('option', { value: name, selected: name === state.workflow }, name)),
  );
  page.replaceChildren(
    h('h1', {}, 'Runs'),
    h(
      'div',
      { class: 'filters' },
      filterButton('', 'all', total),
      Object.entries(list.counts).map(([status, count]) => filterButton(status, status, count)),
      workflowSelect,
    ),
    list.truncated ? h('p', {}, `Counts cover the newest ${list.total} runs.`) : null,
    h(
      'table',
      { id: 'runs' },
      h(
        'tr',
        {},
        ['Run', 'Workflow', 'Status', 'Created', 'Duration'].map((title) => h('th', {}, title)),
      ),
      list.runs.map((run) =>
        h(
          'tr',
          { 'data-run-id': run.runId },
          h('td', { class: 'mono' }, runLink(run.runId)),
          h('td', {}, run.workflowName),
          h('td', {}, statusBadge(run.status)),
          h('td', {}, time(run.createdAt)),
          h('td', {}, formatDuration((run.completedAt ?? Date.now()) - run.createdAt)),
        ),
      ),
    ),
    list.runs.length === 0 ? h('p', { id: 'no-runs' }, 'No runs match.') : null,
  );
  // The list has no per-World change feed, so it polls.
  setLive(true);
  state.timer = setTimeout(() => render(), 2000);
}

function timelineSvg(detail) {
  const model = timelineModel(detail);
  const labelWidth = 220;
  const plotWidth = 760;
  const rowHeight = 22;
  const top = 24;
  const span = model.end - model.start;
  const x = (at) => labelWidth + ((Math.min(Math.max(at, model.start), model.end) - model.start) / span) * plotWidth;
  const ticks = [0, 0.25, 0.5, 0.75, 1].map((fraction) => {
    const at = labelWidth + fraction * plotWidth;
    return h(
      'svg:g',
      { class: 'axis' },
      h('svg:line', { x1: at, x2: at, y1: top - 4, y2: top + model.rows.length * rowHeight }),
      h(
        'svg:text',
        { x: at, y: 14, 'text-anchor': fraction === 1 ? 'end' : 'middle' },
        `+${formatDuration(fraction * span)}`,
      ),
    );
  });
  const rows = model.rows.map((row, index) => {
    const y = top + index * rowHeight;
    const label = h('svg:text', { x: 4, y: y + 15 }, row.label);
    const segments = row.segments.map((segment) => {
      const from = x(segment.from);
      const width = Math.max(2, x(segment.to) - from);
      const detailText = `${segment.kind}${segment.attempt ? ` ${segment.attempt}` : ''} ${segment.outcome ?? ''} ${formatDuration(segment.to - segment.from)}${segment.error ? `: ${segment.error.message}` : ''}`;
      return h(
        'svg:rect',
        {
          class: `segment ${segment.kind} ${segment.outcome ?? ''}`,
          'data-kind': segment.kind,
          'data-outcome': segment.outcome,
          'data-attempt': segment.attempt,
          x: from,
          y: y + 4,
          width,
          height: rowHeight - 8,
          rx: 2,
        },
        h('svg:title', {}, detailText),
      );
    });
    const marks = row.marks.map((at) =>
      h('svg:line', { class: 'mark', x1: x(at), x2: x(at), y1: y + 2, y2: y + rowHeight - 2 }),
    );
    const labelNode = row.childRunId
      ? h('svg:a', { href: `#/runs/${encodeURIComponent(row.childRunId)}` }, label)
      : label;
    return h(
      'svg:g',
      { class: 'timeline-row', 'data-kind': row.kind, 'data-label': row.label, 'data-status': row.status },
      labelNode,
      segments,
      marks,
    );
  });
  const height = top + model.rows.length * rowHeight + 8;
  return h('svg:svg', { class: 'timeline', id: 'timeline', width: labelWidth + plotWidth + 20, height }, ticks, rows);
}

function actionsFor(detail) {
  const { run } = detail;
  if (state.info.readOnly || terminal(run.status)) return null;
  const message = h('span', { class: 'message', id: 'action-message' });
  const cancel = async () => {
    try {
      await api(`/api/runs/${encodeURIComponent(run.runId)}/cancel`, {
        method: 'POST',
        body: JSON.stringify({ reason: 'cancelled from the dashboard' }),
      });
    } catch (error) {
      message.textContent = error.message;
    }
  };
  return h(
    'div',
    { class: 'actions' },
    h('button', { class: 'danger', id: 'cancel-run', onclick: cancel }, 'Cancel run'),
    message,
  );
}

function resumeForm(hook) {
  if (state.info.readOnly || hook.status !== 'active') return null;
  const payload = h('textarea', { 'data-token': hook.token, class: 'resume-payload' }, '{}');
  const message = h('span', { class: 'message' });
  const resume = async () => {
    try {
      await api('/api/hooks/resume', {
        method: 'POST',
        body: JSON.stringify({ token: hook.token, payload: JSON.parse(payload.value) }),
      });
      message.textContent = '';
    } catch (error) {
      message.textContent = error.message;
    }
  };
  return h(
    'span',
    {},
    payload,
    ' ',
    h('button', { class: 'primary resume', 'data-token': hook.token, onclick: resume }, 'Resume'),
    message,
  );
}

function openStream(runId, name) {
  state.stream?.close();
  const output = document.getElementById('stream-output');
  output.textContent = '';
  document.getElementById('stream-name').textContent = name;
  const source = new EventSource(`/api/runs/${encodeURIComponent(runId)}/streams/${encodeURIComponent(name)}`);
  source.addEventListener('chunk', (event) => {
    const chunk = JSON.parse(event.data);
    output.append(chunk.text ?? `[${atob(chunk.base64).length} bytes]\n`);
  });
  source.addEventListener('end', () => {
    source.close();
    output.dataset.ended = 'true';
  });
  state.stream = source;
}

function renderRun(detail) {
  const { run, events, steps, hooks, streams } = detail;
  const visibleSteps = steps.filter((step) => step.stepName !== 'cairn:stream-write');
  const existingStream = document.getElementById('stream-viewer');
  const sections = [
    h('h1', {}, 'Run ', h('span', { class: 'mono', id: 'run-id' }, run.runId), ' ', statusBadge(run.status)),
    h(
      'div',
      { class: 'summary' },
      h('span', {}, 'workflow ', h('b', {}, run.workflowName)),
      h('span', {}, `created ${time(run.createdAt)}`),
      h('span', {}, `duration ${formatDuration((run.completedAt ?? detail.now) - run.createdAt)}`),
      run.parentRunId ? h('span', {}, 'parent ', runLink(run.parentRunId)) : null,
      run.cancelReason ? h('span', {}, `cancelled: ${run.cancelReason}`) : null,
      run.error ? h('span', { class: 'message' }, `${run.error.name}: ${run.error.message}`) : null,
    ),
    actionsFor(detail),
    h('h2', {}, 'Timeline'),
    timelineSvg(detail),
    h('h2', {}, 'Steps'),
    h(
      'table',
      { id: 'steps' },
      h(
        'tr',
        {},
        ['Step', 'Status', 'Attempts', 'Retries', 'Input', 'Output', 'Last error'].map((title) => h('th', {}, title)),
      ),
      visibleSteps.map((step) =>
        h(
          'tr',
          { 'data-step-id': step.stepId },
          h('td', { class: 'mono' }, step.stepName, h('br'), step.stepId),
          h('td', {}, statusBadge(step.status)),
          h('td', {}, attemptsOf(step)),
          h('td', {}, step.retries),
          h('td', {}, json(step.input)),
          h('td', {}, json(step.output)),
          h('td', {}, step.error ? `${step.error.name}: ${step.error.message}` : '-'),
        ),
      ),
    ),
    h('h2', {}, 'Hooks'),
    h(
      'table',
      { id: 'hooks' },
      h(
        'tr',
        {},
        ['Token', 'Status', 'Received', 'Resume'].map((title) => h('th', {}, title)),
      ),
      hooks.map((hook) =>
        h(
          'tr',
          { 'data-token': hook.token },
          h('td', { class: 'mono' }, hook.token),
          h('td', {}, hook.status),
          h('td', {}, hook.receivedCount),
          h('td', {}, resumeForm(hook)),
        ),
      ),
    ),
    h('h2', {}, 'Streams'),
    h(
      'div',
      { class: 'actions', id: 'streams' },
      streams.map((stream) =>
        h(
          'button',
          { 'data-stream': stream.name, onclick: () => openStream(run.runId, stream.name) },
          `${stream.name} (${stream.chunkCount}${stream.closed ? ', closed' : ''})`,
        ),
      ),
    ),
    existingStream ??
      h(
        'div',
        { id: 'stream-viewer' },
        h('div', {}, 'stream: ', h('b', { id: 'stream-name' }, '-')),
        h('pre', { id: 'stream-output' }),
      ),
    h('h2', {}, 'Event log'),
    h(
      'table',
      { id: 'events' },
      h(
        'tr',
        {},
        ['Seq', 'Time', 'Type', 'Correlation', 'Data'].map((title) => h('th', {}, title)),
      ),
      events.map((event) =>
        h(
          'tr',
          { 'data-seq': event.seq },
          h('td', {}, event.seq),
          h('td', {}, `+${formatDuration(event.createdAt - run.createdAt)}`),
          h('td', { class: 'mono' }, event.eventType),
          h('td', { class: 'mono' }, event.correlationId ?? ''),
          h('td', {}, event.eventData ? compactJson(event.eventData) : ''),
        ),
      ),
    ),
  ];
  page.replaceChildren(...sections.filter(Boolean));
  page.dataset.lastSeq = String(run.lastSeq);
}

async function showRun(runId) {
  const detail = await api(`/api/runs/${encodeURIComponent(runId)}`);
  renderRun(detail);
  // Live: the server watches the log (events.watch) and says when it moved; re-read then.
  const source = new EventSource(`/api/runs/${encodeURIComponent(runId)}/watch?after=${detail.run.lastSeq}`);
  source.addEventListener('open', () => setLive(true));
  source.addEventListener('error', () => setLive(false));
  source.addEventListener('changed', async () => {
    if (state.live === source) renderRun(await api(`/api/runs/${encodeURIComponent(runId)}`));
  });
  state.live = source;
}

async function render() {
  leaveView();
  const match = /^#\/runs\/(.+)$/.exec(location.hash);
  try {
    if (match) await showRun(decodeURIComponent(match[1]));
    else await showRunList();
  } catch (error) {
    page.replaceChildren(h('p', { class: 'message', id: 'error' }, error.message));
  }
}

async function start() {
  state.info = await api('/api/info');
  document.getElementById('world-name').textContent = state.info.world;
  document.getElementById('read-only').hidden = !state.info.readOnly;
  window.addEventListener('hashchange', render);
  await render();
}

start();
