import { connect, createServer, type Socket } from 'node:net';

/**
 * ReadyForQuery with status idle: `Z`, length 5, `I`. The server sends it once a statement
 * outside a transaction, or a transaction's COMMIT, is done: by then the transaction is
 * over, committed unless it failed.
 */
export const readyForQueryIdle = Buffer.from([0x5a, 0, 0, 0, 5, 0x49]);

export interface TcpHop {
  /** The target connection string, pointed at the hop. */
  connectionString: string;
  /** Cuts every connection and stops listening. */
  close(): Promise<void>;
}

/**
 * A TCP hop on loopback in front of the PostgreSQL server of `target`: each connection to
 * it opens one to the server, and `relay` decides what passes between the two. Errors on
 * either socket are expected (a test's hop cuts connections on purpose) and ignored.
 */
export async function startTcpHop(target: string, relay: (client: Socket, upstream: Socket) => void): Promise<TcpHop> {
  const upstreamUrl = new URL(target);
  const sockets = new Set<Socket>();
  const server = createServer((client) => {
    const upstream = connect(Number(upstreamUrl.port || 5432), upstreamUrl.hostname);
    for (const socket of [client, upstream]) {
      sockets.add(socket);
      socket.on('close', () => sockets.delete(socket));
      socket.on('error', () => {});
    }
    relay(client, upstream);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const proxied = new URL(target);
  proxied.hostname = '127.0.0.1';
  proxied.port = String((server.address() as { port: number }).port);
  return {
    connectionString: proxied.toString(),
    close: async () => {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
