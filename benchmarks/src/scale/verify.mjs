// Reads seeded runs back through the World's own API and compares them with the history
// they were seeded from. A benchmark over rows the World cannot read would measure
// nothing, so the scale run stops at the first mismatch.
import { isDeepStrictEqual } from 'node:util';
import { rowsOf, runNumberOf, seededRun } from './history.mjs';

const excerpt = (value) => JSON.stringify(value)?.slice(0, 300);

function compare(problems, what, actual, expected) {
  if (!isDeepStrictEqual(actual, expected)) {
    problems.push(`${what}: got ${excerpt(actual)}, expected ${excerpt(expected)}`);
  }
}

/** Problems found reading run `number` through runs.get, events.list and the entity lists. */
export async function checkSeededRun(world, timeline, number) {
  const seeded = seededRun(number, timeline);
  const expected = rowsOf(seeded);
  const problems = [];
  const { runId } = seeded;
  compare(problems, `runs.get(${runId})`, await world.runs.get(runId), expected.run);
  const events = await world.events.list(runId, { limit: 1000 });
  compare(problems, `events.list(${runId})`, events, { data: expected.events, hasMore: false });
  for (const table of ['steps', 'hooks', 'waits']) {
    const page = await world[table].list(runId, { limit: 1000 });
    const bodies = expected[table].sort((left, right) => left.createdSeq - right.createdSeq).map((row) => row.body);
    compare(problems, `${table}.list(${runId})`, page, { data: bodies, cursor: null });
  }
  return problems;
}

/**
 * Problems with one page of `runs.list({ status })`: every seeded run on it must have the
 * status asked for, come newest first, and read exactly as seeded. Runs the benchmark
 * created itself (ids that are not seeded ids) are only checked for their status.
 */
export function checkListingPage(page, timeline, status) {
  const problems = [];
  let previous = Number.POSITIVE_INFINITY;
  for (const run of page.data) {
    if (run.status !== status)
      problems.push(`runs.list({ status: '${status}' }) returned ${run.runId} (${run.status})`);
    const number = runNumberOf(run.runId);
    if (number === undefined) continue;
    if (number >= previous) problems.push(`runs.list({ status: '${status}' }) is not newest first at ${run.runId}`);
    previous = number;
    compare(
      problems,
      `runs.list({ status: '${status}' }) item ${run.runId}`,
      run,
      rowsOf(seededRun(number, timeline)).run,
    );
  }
  return problems;
}
