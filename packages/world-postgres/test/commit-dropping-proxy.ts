import { readyForQueryIdle, startTcpHop } from './tcp-hop.js';

export interface CommitDroppingProxy {
  /** The connection string to give a World: the original one, pointed at the proxy. */
  connectionString: string;
  /**
   * The next transaction that sends `marker` (up to 256 bytes, in any of its messages)
   * commits, but its client never hears so: the server's answer that ends it is not
   * forwarded, and both sides of the connection are cut instead. Resolves once that happened.
   */
  dropCommitReplyAfter(marker: string): Promise<void>;
  close(): Promise<void>;
}

/**
 * A TCP hop between a World and a real PostgreSQL that can lose the answer to one commit,
 * the way a network failure right after the server committed does. It looks at bytes, not
 * messages: the client's messages are searched for the marker (values travel as text in
 * either protocol), and the server's for the ReadyForQuery that follows the commit. Each
 * search keeps the tail of the previous chunk, so a match split across chunks is found.
 */
export async function startCommitDroppingProxy(target: string): Promise<CommitDroppingProxy> {
  let armed: { marker: Buffer; dropped: () => void } | undefined;
  const hop = await startTcpHop(target, (client, upstream) => {
    /** Set once this connection sent the armed marker: its next commit's answer is dropped. */
    let marked: { dropped: () => void } | undefined;
    let sentTail = Buffer.alloc(0);
    let answeredTail = Buffer.alloc(0);
    client.on('data', (chunk: Buffer) => {
      const seen = Buffer.concat([sentTail, chunk]);
      if (armed !== undefined && marked === undefined && seen.includes(armed.marker)) {
        marked = { dropped: armed.dropped };
        armed = undefined;
      }
      sentTail = seen.subarray(Math.max(0, seen.length - 256));
      upstream.write(chunk);
    });
    upstream.on('data', (chunk: Buffer) => {
      const seen = Buffer.concat([answeredTail, chunk]);
      answeredTail = seen.subarray(Math.max(0, seen.length - (readyForQueryIdle.length - 1)));
      if (marked !== undefined && seen.includes(readyForQueryIdle)) {
        client.destroy();
        upstream.destroy();
        marked.dropped();
        return;
      }
      client.write(chunk);
    });
    client.on('close', () => upstream.destroy());
    upstream.on('close', () => client.destroy());
  });
  return {
    connectionString: hop.connectionString,
    dropCommitReplyAfter: (marker) =>
      new Promise<void>((resolve) => {
        armed = { marker: Buffer.from(marker), dropped: resolve };
      }),
    close: hop.close,
  };
}
