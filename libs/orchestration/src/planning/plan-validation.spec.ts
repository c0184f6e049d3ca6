import { findCycle, parseDecision, validatePlan } from './plan-validation';

const t = (id: string, deps: string[] = [], agent = 'A') => ({
  id,
  agent,
  instruction: id,
  depends_on: deps,
});

describe('plan validation', () => {
  it('reads route and plan decisions; a lone task without dependencies is a route', () => {
    expect(parseDecision('{"decision":"route","agent":"A"}')).toEqual({
      decision: 'route',
      agent: 'A',
    });
    expect(
      parseDecision('```json\n{"tasks":[{"id":"t1","agent":"A","instruction":"x"}]}\n```'),
    ).toEqual({ decision: 'route', agent: 'A' });
    const plan = parseDecision(
      JSON.stringify({
        tasks: [t('a'), { ...t('b', ['a']), on_failure: 'retry', writes: ['src/**'] }],
      }),
    );
    expect(plan).toMatchObject({
      decision: 'plan',
      tasks: [
        { id: 'a', on_failure: 'fail_plan', writes: [] },
        { id: 'b', on_failure: 'retry', writes: ['src/**'] },
      ],
    });
  });

  it('says what is wrong with malformed answers', () => {
    expect(parseDecision('not json')).toEqual({ errors: ['the answer is not JSON'] });
    expect(parseDecision('[1]')).toEqual({ errors: ['the answer must be a JSON object'] });
    expect(parseDecision('{"decision":"route"}')).toEqual({ errors: ['route needs "agent"'] });
    const bad = parseDecision(
      JSON.stringify({
        tasks: [
          { id: 'bad id!', agent: 'A', instruction: 'x' },
          { ...t('b'), on_failure: 'pray' },
        ],
      }),
    );
    expect('errors' in bad && bad.errors).toEqual([
      'tasks[0].id must be 1-64 characters of [A-Za-z0-9_.-]',
      'task b: on_failure must be one of fail_plan, skip, retry',
    ]);
  });

  it('finds and names cycles, and accepts DAGs', () => {
    expect(findCycle([t('a', ['c']), t('b', ['a']), t('c', ['b'])])).toEqual(['a', 'b', 'c', 'a']);
    expect(findCycle([t('a'), t('b', ['a']), t('c', ['a']), t('d', ['b', 'c'])])).toBeNull();
  });

  it('checks ids, dependencies, agents, the task limit and cycles together', () => {
    expect(validatePlan([t('a'), t('b', ['a'])], ['A'])).toEqual([]);
    expect(validatePlan([t('a', ['a']), t('a'), t('c', ['zzz'], 'Nobody')], ['A'])).toEqual([
      'task id "a" is used twice',
      'task a depends on itself',
      'task c: no agent "Nobody" in this project',
      'task c depends on "zzz", which is not a task',
    ]);
    expect(validatePlan([t('a', ['a'])], ['A'])).toEqual([
      'task a depends on itself',
      'the dependencies form a cycle: a -> a',
    ]);
    expect(
      validatePlan(
        Array.from({ length: 21 }, (_, i) => t(`t${i}`)),
        ['A'],
      ),
    ).toEqual(['the plan has 21 tasks; at most 20']);
    expect(validatePlan([], ['A'])).toEqual(['the plan has no tasks']);
  });
});
