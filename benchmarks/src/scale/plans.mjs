// Which indexes the World's queries use on the seeded database. The statements are not
// copied from world-postgres: a recording pool captures the text and values the World
// actually sends, and PostgreSQL plans exactly those with EXPLAIN.
import pg from 'pg';

/** Tables that hold the seeded history: a sequential scan of one of them grows with history. */
export const historyTables = ['runs', 'events', 'steps', 'hooks', 'waits', 'queue_messages'];

/**
 * A pg Pool that, while `capture` runs, keeps every statement any of its connections is
 * given: the World checks a connection out for each statement, so recording `pool.query`
 * alone would see none of them. Appends, transactions and the World's background
 * statements (published notifications, consumers' polls) are recorded too; callers pick
 * the statement they want by its text.
 */
export class RecordingPool extends pg.Pool {
  #recorded;

  constructor(options) {
    super(options);
    this.on('connect', (client) => {
      const send = client.query;
      client.query = (first, ...rest) => {
        // A statement comes as text and values, or as a query config (named statements).
        const { text, values } = typeof first === 'string' ? { text: first, values: rest[0] } : (first ?? {});
        if (this.#recorded && typeof text === 'string') {
          this.#recorded.push({ text, values: Array.isArray(values) ? values : [] });
        }
        return send.call(client, first, ...rest);
      };
    });
  }

  /** Runs `work` and returns the statements the pool's connections were given meanwhile. */
  async capture(work) {
    const recorded = [];
    this.#recorded = recorded;
    try {
      await work();
    } finally {
      this.#recorded = undefined;
    }
    return recorded;
  }
}

/** The statement of `runs.list` among those captured: the one reading the runs table. */
export const listingStatement = (statements) =>
  statements.find((statement) => /\.runs\b/.test(statement.text) && /^\s*SELECT/i.test(statement.text));

/**
 * The plan of one captured statement, with the parameters it was sent with, so the
 * planner sees what it saw (pg sends each as an unnamed statement, planned for its values).
 * `analyze` runs it too, which adds the rows each node read and threw away and the pages it
 * touched: only for reads, so that a lease or an ack is planned without changing anything.
 */
export async function explain(client, { text, values }, { analyze = false } = {}) {
  const { rows } = await client.query(`EXPLAIN (${analyze ? 'ANALYZE, BUFFERS, ' : ''}FORMAT JSON) ${text}`, values);
  return rows[0]['QUERY PLAN'][0].Plan;
}

/**
 * Every index a plan reads, every table it scans sequentially, the node types in plan
 * order, and (from an analyzed plan) how many rows its filters threw away: an index scan
 * that filters reads more rows than it returns, the more so the rarer the rows it wants.
 */
export function summarizePlan(plan) {
  const indexes = new Set();
  const sequentialScans = new Set();
  const nodes = [];
  let rowsFiltered;
  const visit = (node) => {
    const filter = node.Filter ? ` (filter ${node.Filter})` : '';
    nodes.push(`${node['Node Type']}${node['Index Name'] ? ` using ${node['Index Name']}` : ''}${filter}`);
    if (node['Index Name']) indexes.add(node['Index Name']);
    if (node['Node Type'] === 'Seq Scan') sequentialScans.add(node['Relation Name']);
    if (node['Rows Removed by Filter'] !== undefined)
      rowsFiltered = (rowsFiltered ?? 0) + node['Rows Removed by Filter'];
    for (const child of node.Plans ?? []) visit(child);
  };
  visit(plan);
  return {
    indexes: [...indexes],
    sequentialScans: [...sequentialScans],
    sequentialScansOfHistory: [...sequentialScans].filter((table) => historyTables.includes(table)),
    nodes,
    ...(plan['Actual Rows'] === undefined
      ? {}
      : { rowsReturned: plan['Actual Rows'], rowsFiltered: rowsFiltered ?? 0 }),
    // The root's counts include its children's: every page the statement touched, found in
    // PostgreSQL's shared buffers or read in from outside them (the OS cache or the disk).
    ...(plan['Shared Hit Blocks'] === undefined
      ? {}
      : { pagesHit: plan['Shared Hit Blocks'], pagesRead: plan['Shared Read Blocks'] ?? 0 }),
  };
}

/**
 * What a captured queue statement is, from its text: the consumer's lease (the claim), a
 * send, an ack, or anything else the consumer sent meanwhile.
 */
export function queueStatementKind(text) {
  if (/FOR UPDATE OF \w+ SKIP LOCKED/.test(text)) return 'claim';
  if (/INSERT INTO \S+queue_messages|\.queue_send\(/.test(text)) return 'send';
  if (/DELETE FROM \S+queue_messages\s+WHERE message_id/.test(text)) return 'ack';
  return 'other';
}
