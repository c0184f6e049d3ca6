import { randomUUID } from 'node:crypto';
import { type Opt, type Ref } from '@mikro-orm/core';
import {
  Entity,
  Index,
  ManyToOne,
  PrimaryKey,
  Property,
  Unique,
} from '@mikro-orm/decorators/legacy';
import { Project } from '@codelab/projects';
import { type AgentToolPolicy } from '@codelab/tools';

/** Derived from what is running (never stored): busy while a run of the agent executes. */
export enum AgentStatus {
  Ready = 'ready',
  Busy = 'busy',
}

@Entity({ tableName: 'agents' })
@Unique({ properties: ['project', 'name'] })
@Index({ properties: ['project', 'createdAt', 'id'] })
export class Agent {
  @PrimaryKey({ type: 'uuid' })
  id: string = randomUUID();

  @ManyToOne({ entity: () => Project, ref: true, deleteRule: 'cascade' })
  project!: Ref<Project>;

  /** Denormalised from the project so every lookup can filter by owner in the same query. */
  @Property({ type: 'uuid', index: true })
  ownerId!: string;

  @Property({ type: 'string', length: 100 })
  name!: string;

  @Property({ type: 'string', length: 32 })
  role!: string;

  @Property({ type: 'text' })
  systemPrompt!: string;

  @Property({ type: 'string', length: 200 })
  model!: string;

  @Property({ type: 'double' })
  temperature!: number;

  @Property({ type: 'json' })
  tools!: string[];

  @Property({ type: 'json' })
  writePaths!: string[];

  @Property({ type: 'json' })
  approvalTools!: string[];

  @Property({ type: 'integer' })
  concurrencyLimit!: number;

  @Property({ type: 'boolean' })
  memoryEnabled!: boolean;

  @Property({ type: 'integer' })
  memoryTopK!: number;

  @Property({ type: 'integer', default: 16 })
  maxSteps!: number;

  @Property({ type: 'integer', default: 600 })
  maxRunSeconds!: number;

  // The database's clock, distinct per row even within one transaction (the starter pack keeps
  // its order).
  @Property({ type: 'datetime', defaultRaw: 'clock_timestamp()' })
  createdAt!: Opt<Date>;

  @Property({ type: 'datetime', defaultRaw: 'now()', onUpdate: () => new Date() })
  updatedAt: Opt<Date> = new Date();

  /** The declarative tool policy every tool call of this agent is checked against. */
  toolPolicy(): AgentToolPolicy {
    return { tools: this.tools, writePaths: this.writePaths, approvalTools: this.approvalTools };
  }
}
