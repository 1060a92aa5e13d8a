import { createServer, connect, type Server, type Socket } from 'node:net';
import type { AddressInfo } from 'node:net';

/**
 * A loopback TCP proxy in front of a real server (the API server, the S3 server), so a test can
 * cut every open connection (a watch dropped by a load balancer) or take the server "down"
 * (connections accepted and reset at once, like a server restarting) and count the attempts.
 */
export class TcpProxy {
  private readonly open = new Set<Socket>();
  private readonly pairs = new Set<[Socket, Socket]>();
  private down = false;
  /** Connections accepted, in total and while down. */
  accepted = 0;
  refused = 0;

  private constructor(
    private readonly server: Server,
    readonly port: number,
  ) {}

  static async start(target: { host: string; port: number }): Promise<TcpProxy> {
    // Connections arrive only once the server listens, by when `proxy` is set.
    const server = createServer((client) => proxy.accept(client, target));
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const proxy = new TcpProxy(server, (server.address() as AddressInfo).port);
    return proxy;
  }

  private accept(client: Socket, target: { host: string; port: number }): void {
    this.accepted += 1;
    if (this.down) {
      this.refused += 1;
      client.resetAndDestroy();
      return;
    }
    const upstream = connect(target.port, target.host);
    this.open.add(client);
    this.open.add(upstream);
    const close = () => {
      client.destroy();
      upstream.destroy();
      this.open.delete(client);
      this.open.delete(upstream);
    };
    client.on('error', close).on('close', close);
    upstream.on('error', close).on('close', close);
    const pair: [Socket, Socket] = [client, upstream];
    this.pairs.add(pair);
    client.on('close', () => this.pairs.delete(pair));
    client.pipe(upstream);
    upstream.pipe(client);
  }

  /**
   * Open connections stop carrying bytes but stay open, like a connection whose peer vanished
   * behind a NAT: no FIN, no RST, just silence. New connections still go through.
   */
  freeze(): void {
    for (const [client, upstream] of this.pairs) {
      client.unpipe(upstream);
      upstream.unpipe(client);
      client.pause();
      upstream.pause();
    }
    this.pairs.clear();
  }

  /** Drops every open connection, as a network failure would; new ones still go through. */
  cut(): void {
    for (const socket of this.open) socket.resetAndDestroy();
    this.open.clear();
  }

  /** Until `up`, every connection is reset on arrival; open ones are dropped. */
  takeDown(): void {
    this.down = true;
    this.refused = 0;
    this.cut();
  }

  bringUp(): void {
    this.down = false;
  }

  get openConnections(): number {
    return this.open.size / 2;
  }

  async close(): Promise<void> {
    this.cut();
    await new Promise<void>((r) => this.server.close(() => r()));
  }
}
