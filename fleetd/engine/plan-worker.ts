/** Worker thread body: plans the cluster states the engine posts, so a large plan never blocks the engine's lease. */
import { plan, type ClusterState, type Plan } from '../../lib/schedule/index.js';
import { serveWorkerCalls } from '../../lib/worker-call.js';

serveWorkerCalls<ClusterState, Plan>(plan);
