/** The orchestrator's name in messages, runs and stream events (it is not a user agent). */
export const ORCHESTRATOR_NAME = 'Orchestrator';

export const orchestrationMetricNames = {
  plans: 'codelab_plans_total',
  tasks: 'codelab_plan_tasks_total',
  taskStart: 'codelab_plan_task_start_seconds',
  width: 'codelab_plan_width',
} as const;
