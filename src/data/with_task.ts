/** A data set scored as another task: `retrieval:QUERY->GALLERY` on a classification data set (relevance by label). */
import { retrievalTaskFrom } from '../tasks/index.js';
import { checkTaskModalities } from './validate.js';
import type { Dataset } from './types.js';

/** `data` with the task `text` names (`retrieval:audio->image`); `data` itself when `text` is undefined or its own kind. */
export function withTask(data: Dataset, text?: string): Dataset {
  if (text === undefined || text === data.task.kind) return data;
  const task = retrievalTaskFrom(text, data.task, Object.keys(data.modalities).sort());
  checkTaskModalities(task, data.modalities);
  return { ...data, task };
}
