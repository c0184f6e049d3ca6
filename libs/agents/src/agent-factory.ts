import { Inject, Injectable } from '@nestjs/common';
import type { EntityManager } from '@mikro-orm/postgresql';
import { APP_CONFIG, type AppConfig } from '@codelab/platform';
import { type AgentInput, applyTemplate } from './agent-defaults';
import { Agent } from './entities/agent.entity';
import { findRoleTemplate } from './templates/role-templates';

/** Builds agents from role templates; shared by CreateAgent and the project starter pack. */
@Injectable()
export class AgentFactory {
  constructor(@Inject(APP_CONFIG) private readonly config: AppConfig) {}

  build(em: EntityManager, projectId: string, ownerId: string, input: AgentInput): Agent {
    const template = findRoleTemplate(input.role);
    if (!template) throw new Error(`Unknown role template "${input.role}"`);
    return em.create(Agent, {
      project: projectId,
      ownerId,
      ...applyTemplate(input, template, this.config.llm.defaultModel),
    });
  }
}
