/** Worker thread body: plans the cluster states the engine posts, so a large plan never blocks the engine's lease. */
import { parentPort } from 'node:worker_threads';
import { plan } from '../../lib/schedule/index.js';
import type { PlanReply, PlanRequest } from './planner.js';
import { errorMessage } from '../../lib/errors.js';

const port = parentPort;
if (!port) throw new Error('plan-worker.js runs only as a worker thread');
port.on('message', (req: PlanRequest) => {
  let reply: PlanReply;
  try {
    reply = { id: req.id, plan: plan(req.state) };
  } catch (err) {
    reply = { id: req.id, error: errorMessage(err) };
  }
  port.postMessage(reply);
});
