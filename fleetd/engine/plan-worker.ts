/** Worker thread body: plans the cluster states the engine posts, so a large plan never blocks the engine's lease. */
import { decodeState, plan, type EncodedState, type Plan } from '../../lib/schedule/index.js';
import { serveWorkerCalls } from '../../lib/worker-call.js';

serveWorkerCalls<EncodedState, Plan>((bytes) => plan(decodeState(bytes)));
