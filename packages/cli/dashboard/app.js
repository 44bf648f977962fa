// The dashboard page: a hash router over two views, the run list (here) and a run
// (run-page.js).
import { api, h, runLink, setLive, statusBadge, time } from './dom.js';
import { showRun } from './run-page.js';
import { formatDuration } from './timeline.js';

const page = document.getElementById('page');
const state = { info: { readOnly: true }, filter: '', workflow: '', live: undefined, timer: undefined };

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
async function render() {
  leaveView();
  const match = /^#\/runs\/(.+)$/.exec(location.hash);
  try {
    if (match) await showRun(decodeURIComponent(match[1]), state);
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
