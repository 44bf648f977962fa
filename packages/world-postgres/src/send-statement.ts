import type { PoolClient, QueryConfig, QueryResult } from 'pg';

/**
 * Sends one statement (or a text of several) on `client`; resolves with its result, or
 * with an array of results for a text of several statements.
 *
 * pg's callback form, not its promise form, on purpose. After a statement sent through the
 * promise form had answered, its text and parameters stayed reachable to V8's young
 * generation collector until the next full collection (measured on Node 20 and 22, with a
 * connection kept checked out or reused from the pool). An append binds the run's new
 * events, kilobytes of them when a step carries a payload, so every scavenge copied them and
 * then moved them to the old generation, in pauses of 5 to 7 ms. Through the callback form
 * they die young: a warm worker's scavenges take about a third less time in all, and pause
 * about 2 ms.
 */
export function sendStatement<Row extends object = Record<string, unknown>>(
  client: PoolClient,
  statement: string | QueryConfig,
): Promise<QueryResult<Row>> {
  return new Promise<QueryResult<Row>>((resolve, reject) => {
    client.query<Row>(typeof statement === 'string' ? { text: statement } : statement, (error, result) =>
      error ? reject(error) : resolve(result),
    );
  }).catch((error: unknown) => {
    // The error was made where the answer was parsed; its stack is taken again here, where
    // it also shows the awaiting callers, as pg's promise form does.
    if (error instanceof Error) Error.captureStackTrace(error);
    throw error;
  });
}
