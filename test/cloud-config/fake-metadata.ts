/**
 * A fake metadata server on 127.0.0.1 for the data source tests: routes map a path to an answer (a body, or a
 * function for status codes, redirects, flakiness and endless bodies); every request is recorded.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Teardownable } from '../harness/teardown.js';

export type Route = string | Buffer | ((req: IncomingMessage, res: ServerResponse) => void);

export interface FakeServer {
  readonly url: string;
  /** `METHOD path` of every request, in order */
  readonly requests: string[];
  /** header values seen per path */
  readonly headers: Map<string, IncomingMessage['headers']>;
  routes: Record<string, Route>;
}

export async function fakeServer(t: Teardownable, routes: Record<string, Route>): Promise<FakeServer> {
  const state: { routes: Record<string, Route> } = { routes };
  const requests: string[] = [];
  const headers = new Map<string, IncomingMessage['headers']>();
  const server = createServer((req, res) => {
    const path = req.url ?? '/';
    requests.push(`${req.method} ${path}`);
    headers.set(path, req.headers);
    const route = state.routes[path];
    if (route === undefined) {
      res.writeHead(404).end('not found');
    } else if (typeof route === 'function') {
      route(req, res);
    } else {
      res.writeHead(200).end(route);
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(() => {
    server.closeAllConnections();
    return new Promise<void>((resolve) => server.close(() => resolve()));
  });
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/`,
    requests,
    headers,
    get routes() {
      return state.routes;
    },
    set routes(r) {
      state.routes = r;
    },
  };
}
