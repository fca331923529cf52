/** Worker thread of `POST /plan`: validates and plans the dry runs plan.ts sends, off the API's event loop. */
import { serveWorkerCalls } from '../../lib/worker-call.js';
import { encodedPlanOutcome, type EncodedPlanCall, type PlanOutcome } from './plan.js';

serveWorkerCalls<EncodedPlanCall, PlanOutcome>(encodedPlanOutcome);
