/**
 * One D-Bus connection to any address, with what dbus-next leaves out: a connect timeout,
 * per-call timeouts, and pending calls failing (instead of hanging) when the connection drops.
 */
import { EventEmitter } from 'node:events';
import { DBusError, Message, MessageType, sessionBus, type MessageBus } from 'dbus-next';
import { SystemdConnectionError } from './errors.js';
import { errorMessage } from '../errors.js';

export interface CallSpec {
  readonly destination: string;
  readonly path: string;
  readonly iface: string;
  readonly member: string;
  readonly signature?: string;
  readonly body?: unknown[];
}

export interface Signal {
  readonly sender: string;
  readonly path: string;
  readonly iface: string;
  readonly member: string;
  readonly body: readonly unknown[];
}

interface BusEvents {
  signal: [Signal];
  closed: [Error | undefined];
}

/** A D-Bus error reply, before the caller gives it meaning. */
export class BusCallError extends Error {
  constructor(
    readonly dbusName: string,
    message: string,
  ) {
    super(message);
  }
}

interface StreamLike {
  on(event: 'close', listener: () => void): unknown;
  destroyed?: boolean;
}

export class BusConnection extends EventEmitter<BusEvents> {
  #closedError: Error | undefined;
  #closed = false;
  readonly #pending = new Set<(err: Error) => void>();

  private constructor(
    private readonly bus: MessageBus,
    readonly address: string,
    private readonly callTimeoutMs: number,
  ) {
    super();
    bus.on('message', (msg: Message) => {
      if (msg.type !== MessageType.SIGNAL) return;
      this.emit('signal', {
        sender: msg.sender,
        path: msg.path,
        iface: msg.interface,
        member: msg.member,
        body: (msg.body ?? []) as unknown[],
      });
    });
    bus.on('error', (err: unknown) => this.#markClosed(this.#connError('connection failed', err)));
    streamOf(bus)?.on('close', () => this.#markClosed(this.#connError('connection closed by the other side')));
  }

  static async open(address: string, connectTimeoutMs: number, callTimeoutMs: number): Promise<BusConnection> {
    let bus: MessageBus;
    try {
      bus = sessionBus({ busAddress: address, authMethods: ['EXTERNAL'] });
    } catch (err) {
      throw new SystemdConnectionError(`cannot use D-Bus address ${address}: ${String(err)}`, address, { cause: err });
    }
    await new Promise<void>((resolve, reject) => {
      const fail = (err: unknown): void => {
        clearTimeout(timer);
        bus.removeListener('connect', ok);
        safeDisconnect(bus);
        reject(
          new SystemdConnectionError(
            `cannot connect to D-Bus at ${address}: ${errorMessage(err)}`,
            address,
            { cause: err },
          ),
        );
      };
      const ok = (): void => {
        clearTimeout(timer);
        bus.removeListener('error', fail);
        resolve();
      };
      const timer = setTimeout(() => fail(new Error(`no answer within ${connectTimeoutMs} ms`)), connectTimeoutMs);
      bus.once('connect', ok);
      bus.once('error', fail);
    });
    return new BusConnection(bus, address, callTimeoutMs);
  }

  get closed(): boolean {
    return this.#closed;
  }

  /** Call a method; resolves with the reply body. D-Bus errors reject with BusCallError. */
  async call(spec: CallSpec, timeoutMs = this.callTimeoutMs): Promise<unknown[]> {
    if (this.#closed) throw this.#closedError ?? this.#connError('connection is closed');
    const msg = new Message({
      destination: spec.destination,
      path: spec.path,
      interface: spec.iface,
      member: spec.member,
      signature: spec.signature ?? '',
      body: spec.body ?? [],
    });
    return new Promise<unknown[]>((resolve, reject) => {
      const abort = (err: Error): void => {
        clearTimeout(timer);
        this.#pending.delete(abort);
        reject(err);
      };
      const timer = setTimeout(
        () => abort(this.#connError(`${spec.iface}.${spec.member} got no answer within ${timeoutMs} ms`)),
        timeoutMs,
      );
      this.#pending.add(abort);
      this.bus.call(msg).then(
        (reply) => {
          clearTimeout(timer);
          this.#pending.delete(abort);
          resolve((reply?.body ?? []) as unknown[]);
        },
        (err: unknown) => {
          if (err instanceof DBusError) abort(new BusCallError(err.type, err.text || err.type));
          else abort(this.#connError(`${spec.iface}.${spec.member} failed`, err));
        },
      );
    });
  }

  async addMatch(rule: string): Promise<void> {
    await this.call({
      destination: 'org.freedesktop.DBus',
      path: '/org/freedesktop/DBus',
      iface: 'org.freedesktop.DBus',
      member: 'AddMatch',
      signature: 's',
      body: [rule],
    });
  }

  /** Disconnect; pending calls fail. Resolves once the socket is closed (or after a short grace). */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#markClosed(this.#connError('connection closed by this client'));
    const stream = streamOf(this.bus);
    const done = new Promise<void>((resolve) => {
      if (!stream || stream.destroyed) return resolve();
      const timer = setTimeout(resolve, 1000);
      stream.on('close', () => {
        clearTimeout(timer);
        resolve();
      });
    });
    safeDisconnect(this.bus);
    await done;
  }

  #markClosed(err: Error): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#closedError = err;
    for (const abort of [...this.#pending]) abort(err);
    this.emit('closed', err);
  }

  #connError(what: string, cause?: unknown): SystemdConnectionError {
    const detail = cause === undefined ? '' : `: ${errorMessage(cause)}`;
    return new SystemdConnectionError(`D-Bus ${this.address}: ${what}${detail}`, this.address, { cause });
  }
}

function streamOf(bus: MessageBus): StreamLike | undefined {
  return (bus as unknown as { _connection?: { stream?: StreamLike } })._connection?.stream;
}

function safeDisconnect(bus: MessageBus): void {
  bus.on('error', () => undefined);
  try {
    bus.disconnect();
  } catch {
    // already closed
  }
}
