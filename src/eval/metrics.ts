/** The metrics live with the tasks (src/tasks/); re-exported here for existing imports. */
export * from '../tasks/metrics.js';
export { computeMetrics, primaryMetric } from '../tasks/index.js';
