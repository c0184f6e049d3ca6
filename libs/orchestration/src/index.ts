export { Plan, PlanTask } from './entities/plan.entity';
export { OrchestrationModule } from './orchestration.module';
export { OrchestrationHttpModule } from './http/orchestration-http.module';
export { GetPlanQuery } from './queries/get-plan/get-plan.query';
export { ORCHESTRATOR_NAME } from './orchestration.events';
export { findCycle, parseDecision, validatePlan } from './planning/plan-validation';
