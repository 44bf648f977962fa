import { connect, createServer, type Socket } from 'node:net';

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
 * ReadyForQuery with status idle: `Z`, length 5, `I`. The server sends it once a statement
 * outside a transaction, or a transaction's COMMIT, is done: by then the transaction is
 * over, committed unless it failed.
 */
const readyForQueryIdle = Buffer.from([0x5a, 0, 0, 0, 5, 0x49]);

/**
 * A TCP hop between a World and a real PostgreSQL that can lose the answer to one commit,
 * the way a network failure right after the server committed does. It looks at bytes, not
 * messages: the client's messages are searched for the marker (values travel as text in
 * either protocol), and the server's for the ReadyForQuery that follows the commit. Each
 * search keeps the tail of the previous chunk, so a match split across chunks is found.
 */
export async function startCommitDroppingProxy(target: string): Promise<CommitDroppingProxy> {
  const upstreamUrl = new URL(target);
  const sockets = new Set<Socket>();
  let armed: { marker: Buffer; dropped: () => void } | undefined;
  const server = createServer((client) => {
    const upstream = connect(Number(upstreamUrl.port || 5432), upstreamUrl.hostname);
    for (const socket of [client, upstream]) {
      sockets.add(socket);
      socket.on('close', () => sockets.delete(socket));
      // A cut connection is the point of this proxy; its errors are expected.
      socket.on('error', () => {});
    }
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
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  const proxied = new URL(target);
  proxied.hostname = '127.0.0.1';
  proxied.port = String(port);
  return {
    connectionString: proxied.toString(),
    dropCommitReplyAfter: (marker) =>
      new Promise<void>((resolve) => {
        armed = { marker: Buffer.from(marker), dropped: resolve };
      }),
    close: async () => {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
