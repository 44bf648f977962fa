// The run page: timeline, steps, hooks with resume forms, streams with a live viewer, and
// the event log, redrawn whenever the run's log grows.
import { api, attemptsOf, compactJson, h, json, runLink, setLive, statusBadge, terminal, time } from './dom.js';
import { formatDuration, timelineModel } from './timeline.js';

const page = document.getElementById('page');

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

function actionsFor(detail, state) {
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

function resumeForm(hook, state) {
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

function openStream(runId, name, state) {
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

/** Why the run, or a child it waits on, has not started: what a worker recorded on it. */
function waitingNotice(detail) {
  const { run, waitingChildren = [] } = detail;
  const lines = [];
  if (run.waiting) lines.push(h('p', {}, `Waiting since ${time(run.waiting.since)}: ${run.waiting.message}`));
  for (const child of waitingChildren) {
    lines.push(
      h('p', {}, 'Waiting on child run ', runLink(child.runId), ` (${child.workflowName}): ${child.waiting.message}`),
    );
  }
  return lines.length === 0 ? null : h('div', { class: 'waiting-notice', id: 'waiting' }, ...lines);
}

function renderRun(detail, state) {
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
    waitingNotice(detail),
    actionsFor(detail, state),
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
          h('td', {}, resumeForm(hook, state)),
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
          { 'data-stream': stream.name, onclick: () => openStream(run.runId, stream.name, state) },
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

export async function showRun(runId, state) {
  const detail = await api(`/api/runs/${encodeURIComponent(runId)}`);
  renderRun(detail, state);
  // Live: the server watches the log (events.watch) and says when it moved; re-read then.
  const source = new EventSource(`/api/runs/${encodeURIComponent(runId)}/watch?after=${detail.run.lastSeq}`);
  source.addEventListener('open', () => setLive(true));
  source.addEventListener('error', () => setLive(false));
  source.addEventListener('changed', async () => {
    if (state.live === source) renderRun(await api(`/api/runs/${encodeURIComponent(runId)}`), state);
  });
  state.live = source;
}
