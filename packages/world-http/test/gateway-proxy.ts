import { createServer, request as forward, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { World } from '@cairn/core/world';
import { createHttpWorld, type HttpWorld } from '../src/index.js';
import { localWorld, serve, tokens } from './helpers.js';

/**
 * A reverse proxy on loopback in front of a world server, as deployments put nginx or a load
 * balancer there. While the upstream is "restarting" it answers what such proxies answer when
 * the server behind them is down: a 502, 503 or 504 with an HTML page, not a typed error.
 */
export class GatewayProxy {
  /** Requests to these routes get the gateway's error page instead of the server's answer. */
  readonly failing = new Map<string, number>();
  /** How many error pages each route has been given. */
  readonly refused = new Map<string, number>();
  private readonly server: Server;

  constructor(private readonly upstream: string) {
    const target = new URL(upstream);
    this.server = createServer((incoming, outgoing) => {
      const route = (incoming.url ?? '').replace(/^\/v1\//, '');
      const status = this.failing.get(route);
      if (status !== undefined) {
        this.refused.set(route, (this.refused.get(route) ?? 0) + 1);
        incoming.resume();
        outgoing.writeHead(status, { 'content-type': 'text/html' });
        outgoing.end(`<html><body><h1>${status} Bad Gateway</h1></body></html>`);
        return;
      }
      const proxied = forward(
        {
          host: target.hostname,
          port: target.port,
          path: incoming.url,
          method: incoming.method,
          headers: incoming.headers,
        },
        (answer) => {
          outgoing.writeHead(answer.statusCode ?? 502, answer.headers);
          answer.pipe(outgoing);
        },
      );
      proxied.on('error', () => outgoing.destroy());
      incoming.pipe(proxied);
    });
  }

  async listen(): Promise<string> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  async close(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise((resolve) => this.server.close(resolve));
  }

  get upstreamUrl(): string {
    return this.upstream;
  }
}

/** A world-local World served over HTTP, a gateway proxy in front, and a worker client through the proxy. */
export async function worldBehindGatewayProxy(): Promise<{
  backing: World;
  proxy: GatewayProxy;
  client: HttpWorld;
  close: () => Promise<void>;
}> {
  const backing = await localWorld();
  const served = await serve(backing);
  const proxy = new GatewayProxy(served.url);
  const client = await createHttpWorld({ url: await proxy.listen(), token: tokens.worker });
  const close = async () => {
    await client.close();
    await proxy.close();
    await served.server.close();
    await backing.close();
  };
  return { backing, proxy, client, close };
}
