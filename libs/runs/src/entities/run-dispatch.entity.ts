import { type Opt } from '@mikro-orm/core';
import { Entity, PrimaryKey, Property } from '@mikro-orm/decorators/legacy';

/**
 * Written in the same transaction that makes a run runnable (admitted as its lane's head, resumed,
 * next in line): "this dispatch must reach the queue". Deleted once the job is enqueued; the relay
 * enqueues whatever is left (Redis was down, the process died).
 */
@Entity({ tableName: 'run_outbox' })
export class RunDispatch {
  @PrimaryKey({ type: 'uuid' })
  runId!: string;

  /** The run's dispatch number: the job is `<run id>.<dispatch>`. */
  @Property({ type: 'integer', default: 1 })
  dispatch: Opt<number> = 1;

  @Property({ type: 'integer', default: 0 })
  attempts: Opt<number> = 0;

  @Property({ type: 'datetime', defaultRaw: 'now()', index: true })
  createdAt!: Opt<Date>;
}
