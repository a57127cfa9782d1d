/** The one error type for every user-facing problem: bad data, bad options, unknown names. */
export interface ModalfuseErrorDetails {
  /** File that was being read or written. */
  file?: string;
  /** Modality concerned. */
  modality?: string;
  /** What was expected (shape, kind, range, one of a list...). */
  expected?: unknown;
  /** What was found instead. */
  found?: unknown;
}

export class ModalfuseError extends Error {
  readonly file?: string;
  readonly modality?: string;
  readonly expected?: unknown;
  readonly found?: unknown;

  constructor(message: string, details: ModalfuseErrorDetails = {}) {
    const parts: string[] = [message];
    if (details.file !== undefined) parts.push(`file: ${details.file}`);
    if (details.modality !== undefined) parts.push(`modality: ${details.modality}`);
    if (details.expected !== undefined) parts.push(`expected: ${fmt(details.expected)}`);
    if (details.found !== undefined) parts.push(`found: ${fmt(details.found)}`);
    super(parts.join('; '));
    this.name = 'ModalfuseError';
    this.file = details.file;
    this.modality = details.modality;
    this.expected = details.expected;
    this.found = details.found;
  }
}

function fmt(v: unknown): string {
  if (typeof v === 'string') return v;
  if (Array.isArray(v)) return `[${v.map((x) => fmt(x)).join(', ')}]`;
  return JSON.stringify(v);
}
