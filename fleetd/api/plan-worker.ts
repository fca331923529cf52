/** Worker thread of `POST /plan`: validates and plans the dry runs plan.ts sends, off the API's event loop. */
import { serveWorkerCalls } from '../../lib/worker-call.js';
import { planOutcome, type PlanCall, type PlanOutcome } from './plan.js';

serveWorkerCalls<PlanCall, PlanOutcome>(planOutcome);
