import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import { sendStatement } from '../src/send-statement.js';
import { connectionString } from './helpers.js';

// The World sends statements through pg's callback form. An error that form reports was
// made where the server's answer was parsed, so its stack would name only the socket's
// reader; pg's promise form takes the stack again where the caller awaits, and so does
// `sendStatement`.

const pool = new pg.Pool({ connectionString, max: 1 });
afterAll(() => pool.end());

async function askForATableThatIsNotThere(client: pg.PoolClient) {
  return await sendStatement(client, 'SELECT * FROM cairn_no_such_table');
}

describe('a statement the server refuses', () => {
  it('rejects with the server error, its stack naming the caller that awaited it', async () => {
    const client = await pool.connect();
    try {
      const error = await askForATableThatIsNotThere(client).then(
        () => undefined,
        (refusal: unknown) => refusal,
      );
      expect(error).toBeInstanceOf(Error);
      expect((error as Error & { code?: string }).code).toBe('42P01');
      expect((error as Error).stack).toContain('askForATableThatIsNotThere');
      // The connection is still usable afterwards.
      const { rows } = await sendStatement<{ answer: number }>(client, 'SELECT 1 AS answer');
      expect(rows).toEqual([{ answer: 1 }]);
    } finally {
      client.release();
    }
  });
});
