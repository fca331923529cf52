import t from 'tap';
import { agentTasks, type DesiredUnit, type CurrentUnit, type AgentState } from '../../fleetd/agent/tasks.js';

const d = (name: string, hash: string, state: AgentState): [string, DesiredUnit] => [name, { name, hash, state }];
const c = (name: string, hash: string, state: AgentState): [string, CurrentUnit] => [name, { name, hash, state }];
const brief = (desired: [string, DesiredUnit][], current: [string, CurrentUnit][]): string[] =>
  agentTasks(new Map(desired), new Map(current)).map((t) => `${t.kind}${t.unit ? ' ' + t.unit : ''}`);

t.test('converged state needs nothing', async (t) => {
  t.same(brief([d('a.service', 'h1', 'launched'), d('b.service', 'h2', 'loaded')],
    [c('a.service', 'h1', 'launched'), c('b.service', 'h2', 'loaded')]), []);
});

t.test('new units are loaded, reloaded once, then started', async (t) => {
  t.same(brief([d('b.service', 'h', 'launched'), d('a.service', 'h', 'launched'), d('c.service', 'h', 'loaded')], []), [
    'load a.service', 'load b.service', 'load c.service', 'reload', 'start a.service', 'start b.service',
  ]);
});

t.test('unscheduled units are unloaded before anything is loaded', async (t) => {
  t.same(brief([d('new.service', 'h', 'launched')], [c('old.service', 'h', 'launched')]), [
    'unload old.service', 'load new.service', 'reload', 'start new.service',
  ]);
});

t.test('a hash change unloads and loads the new content, and restarts a launched unit', async (t) => {
  t.same(brief([d('a.service', 'new', 'launched')], [c('a.service', 'old', 'launched')]), [
    'unload a.service', 'load a.service', 'reload', 'start a.service',
  ]);
  t.same(brief([d('a.service', 'new', 'loaded')], [c('a.service', 'old', 'launched')]), [
    'unload a.service', 'load a.service', 'reload',
  ]);
});

t.test('state changes alone need no daemon reload', async (t) => {
  t.same(brief([d('a.service', 'h', 'loaded'), d('b.service', 'h', 'launched')],
    [c('a.service', 'h', 'launched'), c('b.service', 'h', 'loaded')]), ['stop a.service', 'start b.service']);
});

t.test('every task has a reason', async (t) => {
  for (const task of agentTasks(new Map([d('a.service', 'x', 'launched')]), new Map([c('b.service', 'y', 'loaded')]))) {
    t.ok(task.reason.length > 0, task.kind);
  }
});

t.test('a new start request for a launched unit starts it again (reset-failed + start), once per request', async (t) => {
  const want = (startRequest?: string): [string, DesiredUnit] => ['a.service', { name: 'a.service', hash: 'h', state: 'launched', ...(startRequest ? { startRequest } : {}) }];
  const have = (state: AgentState, startRequest?: string): [string, CurrentUnit] => ['a.service', { name: 'a.service', hash: 'h', state, ...(startRequest ? { startRequest } : {}) }];
  const table: [string, [string, DesiredUnit], [string, CurrentUnit], string[]][] = [
    ['no request', want(), have('launched'), []],
    ['new request', want('r1'), have('launched'), ['retry a.service']],
    ['request already handled', want('r1'), have('launched', 'r1'), []],
    ['newer request', want('r2'), have('launched', 'r1'), ['retry a.service']],
    ['not launched yet: the start covers it', want('r1'), have('loaded'), ['start a.service']],
  ];
  for (const [what, d, c, tasks] of table) t.same(brief([d], [c]), tasks, what);
  t.same(brief([['a.service', { name: 'a.service', hash: 'h', state: 'loaded', startRequest: 'r1' }]], [have('loaded')]), [], 'a loaded unit ignores requests');
  t.same(brief([['a.service', { name: 'a.service', hash: 'new', state: 'launched', startRequest: 'r1' }]], [have('launched')]), [
    'unload a.service', 'load a.service', 'reload', 'start a.service',
  ], 'new contents: the normal restart covers it');
  t.same(brief([want('r1'), d('b.service', 'h', 'launched')], [have('launched'), c('b.service', 'h', 'loaded')]), [
    'start b.service', 'retry a.service',
  ], 'retries come after starts');
});

t.test('a new rolling-restart request restarts a launched unit once per request; it covers a start request', async (t) => {
  type Req = { restartRequest?: string; startRequest?: string };
  const want = (r: Req = {}, state: AgentState = 'launched', hash = 'h'): [string, DesiredUnit] => ['a.service', { name: 'a.service', hash, state, ...r }];
  const have = (state: AgentState, r: Req = {}): [string, CurrentUnit] => ['a.service', { name: 'a.service', hash: 'h', state, ...r }];
  const table: [string, [string, DesiredUnit], [string, CurrentUnit], string[]][] = [
    ['no request', want(), have('launched'), []],
    ['new request', want({ restartRequest: 'x1' }), have('launched'), ['restart a.service']],
    ['request already handled', want({ restartRequest: 'x1' }), have('launched', { restartRequest: 'x1' }), []],
    ['newer request', want({ restartRequest: 'x2' }), have('launched', { restartRequest: 'x1' }), ['restart a.service']],
    ['restart and start requested: one restart', want({ restartRequest: 'x1', startRequest: 's1' }), have('launched'), ['restart a.service']],
    ['a loaded unit is never restarted (stays loaded)', want({ restartRequest: 'x1' }, 'loaded'), have('loaded'), []],
    ['not launched yet: the start covers it', want({ restartRequest: 'x1' }), have('loaded'), ['start a.service']],
    ['new contents: the normal restart covers it', want({ restartRequest: 'x1' }, 'launched', 'new'), have('launched'), [
      'unload a.service', 'load a.service', 'reload', 'start a.service',
    ]],
  ];
  for (const [what, d, c, tasks] of table) t.same(brief([d], [c]), tasks, what);
  t.same(brief([want({ restartRequest: 'x1' }), d('b.service', 'h', 'launched')], [have('launched'), c('b.service', 'h', 'loaded')]), [
    'start b.service', 'restart a.service',
  ], 'restarts come after starts');
});
