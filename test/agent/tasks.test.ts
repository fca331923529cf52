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
