import { connect, createServer, type Socket } from 'node:net';

export interface ReplyDroppingProxy {
  /** `redis://127.0.0.1:<port>`: a World connected here reaches Redis through the proxy. */
  url: string;
  /**
   * The next reply from Redis whose text contains `marker` is not forwarded: both sides of
   * that connection are cut instead, so the command ran on the server but its caller never
   * hears so. Resolves once a reply was dropped.
   */
  dropNextReplyContaining(marker: string): Promise<void>;
  /** Forwards every reply again, if none was dropped yet. */
  disarm(): void;
  close(): Promise<void>;
}

/**
 * A TCP hop between a client and a real Redis that can lose one reply, the way a network
 * failure right after the server answered does. The client then reconnects through the
 * proxy as it would to the server.
 */
export async function startReplyDroppingProxy(redisUrl: string): Promise<ReplyDroppingProxy> {
  const target = new URL(redisUrl);
  const sockets = new Set<Socket>();
  let armed: { marker: string; dropped: () => void } | undefined;
  const server = createServer((client) => {
    const upstream = connect(Number(target.port), target.hostname);
    for (const socket of [client, upstream]) {
      sockets.add(socket);
      socket.on('close', () => sockets.delete(socket));
      // A cut connection is the point of this proxy; its errors are expected.
      socket.on('error', () => {});
    }
    client.on('data', (chunk) => upstream.write(chunk));
    upstream.on('data', (chunk) => {
      if (armed && chunk.toString('latin1').includes(armed.marker)) {
        const { dropped } = armed;
        armed = undefined;
        client.destroy();
        upstream.destroy();
        dropped();
        return;
      }
      client.write(chunk);
    });
    client.on('close', () => upstream.destroy());
    upstream.on('close', () => client.destroy());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  return {
    url: `redis://127.0.0.1:${port}`,
    dropNextReplyContaining: (marker) =>
      new Promise<void>((resolve) => {
        armed = { marker, dropped: resolve };
      }),
    disarm: () => {
      armed = undefined;
    },
    close: async () => {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
