// The "Scale" section of latest.md, from `results.scale` alone.

const ms = (value) => (value >= 100 ? value.toFixed(0) : value >= 10 ? value.toFixed(1) : value.toFixed(2));
const count = (value) => value.toLocaleString('en-US');

export function renderScale(scale) {
  const lines = ['', '## Scale', ''];
  if (scale.status !== 'ok') lines.push(`**FAILED**: ${scale.reason}`, '');
  const { seeded } = scale;
  if (seeded) {
    const statuses = Object.entries(seeded.byStatus)
      .map(([status, runs]) => `${count(runs)} ${status}`)
      .join(', ');
    const size = seeded.databaseBytes ? `${(seeded.databaseBytes / 2 ** 20).toFixed(0)} MiB, ` : '';
    lines.push(
      `The same operations on an empty database and on one seeded with ${count(seeded.runs)} runs (${statuses}), ` +
        `${count(seeded.events)} events, ${count(seeded.steps)} steps, ${count(seeded.hooks)} hooks, ${count(seeded.waits)} waits ` +
        `and ${count(seeded.messages)} delayed messages (${size}seeded in ${seeded.seconds.toFixed(0)} s), ` +
        'one World on each, timed in turn. ' +
        `Median (p95) in ms; the ratio is seeded ÷ empty of the medians, flat up to ${scale.flatLimit}×.`,
      '',
    );
  }
  if (scale.measurements.length > 0) {
    lines.push('| Operation | Empty | Seeded | Seeded ÷ empty | Verdict | Detail |', '|---|---|---|---|---|---|');
    for (const entry of scale.measurements) {
      lines.push(
        `| ${entry.title} | ${ms(entry.empty.median)} (${ms(entry.empty.p95)}) | ${ms(entry.seeded.median)} (${ms(entry.seeded.p95)}) | ` +
          `${entry.ratio.toFixed(2)}× | ${entry.verdict} | ${entry.detail}, n=${entry.seeded.n} |`,
      );
    }
  }
  if (scale.workerStart) {
    const { emptyMs, seededMs, note } = scale.workerStart;
    lines.push('', `Worker start: ${ms(emptyMs)} ms empty, ${ms(seededMs)} ms seeded (${note}).`);
  }
  if (scale.plans.length > 0) {
    lines.push(
      '',
      'Plans of the World’s own statements on the seeded database (EXPLAIN of the captured text and parameters):',
      '',
      '| Query | Indexes | Sequential scans | Rows returned / filtered out | Pages in shared buffers / read in |',
      '|---|---|---|---|---|',
    );
    for (const plan of scale.plans) {
      if (plan.error) lines.push(`| ${plan.query} | ${plan.error} | | | |`);
      else {
        const scans = plan.sequentialScans.map((table) =>
          plan.sequentialScansOfHistory.includes(table) ? `**${table}**` : table,
        );
        const rows = plan.rowsReturned === undefined ? 'not run' : `${plan.rowsReturned} / ${plan.rowsFiltered}`;
        const pages = plan.pagesHit === undefined ? '' : `${plan.pagesHit} / ${plan.pagesRead}`;
        lines.push(
          `| ${plan.query} | ${plan.indexes.join(', ') || 'none'} | ${scans.join(', ') || 'none'} | ${rows} | ${pages} |`,
        );
      }
    }
  }
  if (scale.checks.length > 0) {
    lines.push(
      '',
      'Seeded rows read back through the World as seeded:',
      '',
      ...scale.checks.map((check) => `- ${check}`),
    );
  }
  return lines;
}
