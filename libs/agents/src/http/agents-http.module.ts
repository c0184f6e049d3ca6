import { Module } from '@nestjs/common';
import { ProjectsModule } from '@codelab/projects';
import { AgentsModule } from '../agents.module';
import { AgentMemoryController } from './agent-memory.controller';
import { AgentsController, AgentTemplatesController } from './agents.controller';

/** The REST surface of agents and their memory; only the API process loads it. */
@Module({
  imports: [AgentsModule, ProjectsModule],
  controllers: [AgentsController, AgentTemplatesController, AgentMemoryController],
})
export class AgentsHttpModule {}
