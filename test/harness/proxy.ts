/** The loopback TCP proxy tests put between a client and etcd to cut or stall the connection. */
import net from 'node:net';
import type { Teardownable } from './teardown.js';

/**
 * A loopback TCP proxy that can freeze a direction (bytes are held, connections stay open, as if the process on
 * one side were stopped) or cut everything (connections reset, new ones refused).
 */
export class TcpProxy {
  private readonly sockets = new Set<net.Socket>();
  private readonly held: { up: (() => void)[]; down: (() => void)[] } = { up: [], down: [] };
  private frozen = { up: false, down: false };
  private cutOff = false;
  private server: net.Server | undefined;
  port = 0;

  private constructor(private readonly targetPort: number) {}

  /** Closed at teardown when `t` is given; otherwise the caller closes it (close()). */
  static async start(targetPort: number, t?: Teardownable): Promise<TcpProxy> {
    const p = new TcpProxy(targetPort);
    p.server = net.createServer((s) => p.accept(s));
    await new Promise<void>((resolve, reject) => {
      p.server!.once('error', reject);
      p.server!.listen(0, '127.0.0.1', () => resolve());
    });
    const a = p.server.address();
    p.port = a && typeof a === 'object' ? a.port : 0;
    t?.teardown(() => p.close());
    return p;
  }

  get endpoint(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  private accept(inbound: net.Socket): void {
    if (this.cutOff) {
      inbound.destroy();
      return;
    }
    const outbound = net.connect(this.targetPort, '127.0.0.1');
    for (const s of [inbound, outbound]) {
      this.sockets.add(s);
      s.on('close', () => this.sockets.delete(s));
      s.on('error', () => s.destroy());
    }
    const relay = (from: net.Socket, to: net.Socket, dir: 'up' | 'down'): void => {
      from.on('data', (chunk: Buffer) => {
        const send = (): void => {
          if (!to.destroyed) to.write(chunk);
        };
        if (this.frozen[dir]) this.held[dir].push(send);
        else send();
      });
    };
    relay(inbound, outbound, 'up');
    relay(outbound, inbound, 'down');
    inbound.on('close', () => outbound.destroy());
    outbound.on('close', () => inbound.destroy());
  }

  /** Bytes held so far in a direction. */
  heldChunks(dir: 'up' | 'down'): number {
    return this.held[dir].length;
  }

  /** Holds the bytes of one direction ('up' = client to etcd) or both until thaw(). */
  freeze(dir: 'up' | 'down' | 'both' = 'both'): void {
    if (dir !== 'down') this.frozen.up = true;
    if (dir !== 'up') this.frozen.down = true;
  }

  /** Delivers everything held, in order, and relays normally again. */
  thaw(): void {
    for (const dir of ['up', 'down'] as const) {
      this.frozen[dir] = false;
      const held = this.held[dir].splice(0);
      for (const send of held) send();
    }
  }

  /** Resets every connection and refuses new ones until restore(). */
  cut(): void {
    this.cutOff = true;
    this.held.up = [];
    this.held.down = [];
    this.frozen = { up: false, down: false };
    for (const s of this.sockets) s.destroy();
  }

  restore(): void {
    this.cutOff = false;
  }

  async close(): Promise<void> {
    this.cut();
    await new Promise<void>((r) => (this.server ? this.server.close(() => r()) : r()));
  }
}

/** A proxy to 127.0.0.1:targetPort, closed at teardown. */
export function startTcpProxy(targetPort: number, t?: Teardownable): Promise<TcpProxy> {
  return TcpProxy.start(targetPort, t);
}
