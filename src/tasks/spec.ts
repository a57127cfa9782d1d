/**
 * What a task is, as data: the `task` object of dataset.json and modalfuse.json. The
 * lowest layer of the library (data sets declare their task; models, training and
 * evaluation read it), so it imports nothing of the project.
 */

export type TaskKind = 'classification' | 'regression' | 'multilabel' | 'retrieval';
export const TASK_KINDS: TaskKind[] = ['classification', 'regression', 'multilabel', 'retrieval'];

/** Whether an item of the gallery is relevant to a query: same label, or same index of the split. */
export type Relevance = 'label' | 'pair';

export type TaskSpec =
  | { kind: 'classification'; classes: string[] }
  | { kind: 'regression'; targets: string[]; /** acc2 = agreement of label > t and prediction > t (e.g. 3.5 for MMMO's 1..5 scores). */ acc2Threshold?: number }
  | { kind: 'multilabel'; labels: string[] }
  | { kind: 'retrieval'; query: string; gallery: string; relevance: Relevance; classes?: string[] };

/**
 * Width of a label row and the width of a predicting model's output: classes (class
 * indices, one per sample), targets or labels. Retrieval labels are class indices like
 * classification's (its width is the number of classes, 0 when relevance is by pair and no
 * classes are named); a retrieval model's outputs are embeddings of the method's width.
 */
export function taskWidth(task: TaskSpec): number {
  switch (task.kind) {
    case 'classification':
      return task.classes.length;
    case 'regression':
      return task.targets.length;
    case 'multilabel':
      return task.labels.length;
    case 'retrieval':
      return task.classes?.length ?? 0;
  }
}

/** Labels are one class index per sample (Int32Array [n]) for these kinds; float rows otherwise. */
export function hasClassLabels(task: TaskSpec): boolean {
  return task.kind === 'classification' || task.kind === 'retrieval';
}

/** The class names of a task, if its labels are classes. */
export function classNames(task: TaskSpec): string[] | undefined {
  if (task.kind === 'classification') return task.classes;
  if (task.kind === 'retrieval') return task.classes;
  return undefined;
}

/** Names of the label columns: classes, targets or labels (a retrieval task's classes, if any). */
export function labelNames(task: TaskSpec): string[] {
  switch (task.kind) {
    case 'classification':
      return task.classes;
    case 'regression':
      return task.targets;
    case 'multilabel':
      return task.labels;
    case 'retrieval':
      return task.classes ?? [];
  }
}

/** One line describing a task. */
export function describeTask(task: TaskSpec): string {
  switch (task.kind) {
    case 'classification':
      return `classification, ${task.classes.length} classes`;
    case 'regression':
      return `regression, targets: ${task.targets.join(', ')}`;
    case 'multilabel':
      return `multilabel, ${task.labels.length} labels`;
    case 'retrieval':
      return `retrieval, ${task.query} -> ${task.gallery}, relevance by ${task.relevance}${task.classes ? ` (${task.classes.length} classes)` : ''}`;
  }
}
