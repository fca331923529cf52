/** Worker thread body: plans the cluster states the engine posts, so a large plan never blocks the engine's lease. */
import { plan, type Plan } from '../../lib/schedule/index.js';
import { serveWorkerCalls } from '../../lib/worker-call.js';
import { decodeState, type EncodedState } from './planner.js';

serveWorkerCalls<EncodedState, Plan>((bytes) => plan(decodeState(bytes)));
