import { FINAL_RUN_STATUSES, RunStatus } from '../entities/run.entity';
import { canTransition, eventTypeOf, RUN_TRANSITIONS, sourcesOf } from './run-transitions';

const ALL = Object.values(RunStatus);

// The whole table, spelled out: [from, to, allowed].
const EXPECTED: [RunStatus, RunStatus[]][] = [
  ['queued' as RunStatus, ['running', 'cancelled', 'failed', 'expired'] as RunStatus[]],
  [
    'running' as RunStatus,
    [
      'running',
      'completed',
      'failed',
      'cancelled',
      'awaiting_approval',
      'awaiting_children',
      'queued',
    ] as RunStatus[],
  ],
  ['awaiting_approval' as RunStatus, ['queued', 'cancelled', 'failed', 'expired'] as RunStatus[]],
  ['awaiting_children' as RunStatus, ['queued', 'cancelled', 'failed', 'expired'] as RunStatus[]],
  ['completed' as RunStatus, []],
  ['failed' as RunStatus, []],
  ['cancelled' as RunStatus, []],
  ['expired' as RunStatus, []],
];

describe('run state machine', () => {
  const cases = EXPECTED.flatMap(([from, allowed]) =>
    ALL.map((to) => [from, to, allowed.includes(to)] as const),
  );

  it.each(cases)('%s -> %s allowed: %s', (from, to, allowed) => {
    expect(canTransition(from, to)).toBe(allowed);
  });

  it('covers every status', () => {
    expect(Object.keys(RUN_TRANSITIONS).sort()).toEqual([...ALL].sort());
  });

  it('never leaves a final status', () => {
    for (const final of FINAL_RUN_STATUSES) expect(RUN_TRANSITIONS[final]).toEqual([]);
  });

  it('resumes only parked runs into the queue', () => {
    expect(sourcesOf(RunStatus.Queued).sort()).toEqual(
      ['running', 'awaiting_approval', 'awaiting_children'].sort(),
    );
    expect(eventTypeOf(RunStatus.AwaitingApproval, RunStatus.Queued)).toBe('run.resumed');
    expect(eventTypeOf(RunStatus.Running, RunStatus.Queued)).toBeNull();
  });

  it.each([
    ['completed', 'run.finished'],
    ['failed', 'run.finished'],
    ['cancelled', 'run.finished'],
    ['expired', 'run.finished'],
    ['awaiting_approval', 'run.parked'],
    ['awaiting_children', 'run.parked'],
    ['running', null],
  ] as const)('records %s as %s', (to, type) => {
    expect(eventTypeOf(RunStatus.Running, to as RunStatus)).toBe(type);
  });
});
