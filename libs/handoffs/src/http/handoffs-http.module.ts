import { Module } from '@nestjs/common';
import { ProjectsModule } from '@codelab/projects';
import { HandoffsModule } from '../handoffs.module';
import { AgentSwitchesController } from './agent-switches.controller';

/** The REST surface of agent switching; only the API process loads it. */
@Module({
  imports: [HandoffsModule, ProjectsModule],
  controllers: [AgentSwitchesController],
})
export class HandoffsHttpModule {}
