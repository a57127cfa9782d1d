/**
 * Numeric CSV files to float32 matrices, parsed by `csv-parse` (quoting, CRLF, BOM and
 * comments handled there). A header row is detected when every cell of the first row is
 * non-numeric. Every bad cell is a ModalfuseError naming the file, row, line and column.
 */
import fs from 'node:fs';
import { parse } from 'csv-parse/sync';
import { ModalfuseError } from '../errors.js';
import { checkRegularFile } from '../util/regular_file.js';

export interface CsvArray {
  /** Row-major values. */
  data: Float32Array;
  shape: [number, number];
  /** Column names when the file has a header row. */
  header?: string[];
}

export interface ReadCsvOptions {
  /** true: first row is a header; false: it is data; 'auto' (default): detect. */
  header?: boolean | 'auto';
  /** Field delimiter; default: detected from the first line (tab, ';' or ','). */
  delimiter?: string;
}

const NUMBER = /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/;
const SPECIAL: Record<string, number> = {
  nan: NaN,
  '+nan': NaN,
  '-nan': NaN,
  inf: Infinity,
  '+inf': Infinity,
  '-inf': -Infinity,
  infinity: Infinity,
  '+infinity': Infinity,
  '-infinity': -Infinity,
};

/** Parses one cell: decimal numbers, and nan/inf spellings (NumPy, pandas); undefined if not a number. */
export function parseNumberCell(cell: string): number | undefined {
  const t = cell.trim();
  if (NUMBER.test(t)) return Number(t);
  const s = SPECIAL[t.toLowerCase()];
  return s;
}

function detectDelimiter(text: string): string {
  const nl = text.indexOf('\n');
  const firstLine = nl < 0 ? text : text.slice(0, nl);
  if (firstLine.includes('\t')) return '\t';
  if (firstLine.includes(';') && !firstLine.includes(',')) return ';';
  return ',';
}

interface Rec {
  record: string[];
  info: { lines: number };
}

/** Parses CSV text (see readCsv); `file` only names the source in errors. */
export function parseCsv(text: string, opts: ReadCsvOptions = {}, file = '<string>'): CsvArray {
  const delimiter = opts.delimiter ?? detectDelimiter(text);
  let recs: Rec[];
  try {
    recs = parse(text, {
      delimiter,
      trim: true,
      bom: true,
      skip_empty_lines: true,
      relax_column_count: true,
      info: true,
    }) as unknown as Rec[];
  } catch (e) {
    const err = e as Error & { lines?: number };
    throw new ModalfuseError(`cannot parse CSV: ${err.message}`, {
      file,
      expected: 'comma-, semicolon- or tab-separated numeric rows',
      found: err.lines !== undefined ? `a problem at line ${err.lines}` : undefined,
    });
  }
  if (recs.length === 0) {
    throw new ModalfuseError('CSV file has no rows', { file, expected: 'at least one row', found: 'an empty file' });
  }
  const first = recs[0].record;
  const isHeader =
    opts.header === true || (opts.header !== false && first.every((c) => c.trim() !== '' && parseNumberCell(c) === undefined));
  const header = isHeader ? first.map((c) => c.trim()) : undefined;
  const rows = isHeader ? recs.slice(1) : recs;
  const cols = header ? header.length : first.length;
  const data = new Float32Array(rows.length * cols);
  for (let r = 0; r < rows.length; r++) {
    const { record, info } = rows[r];
    // info.lines is the line the record ends on; for one-line records, its line.
    const line = info.lines;
    if (record.length !== cols) {
      throw new ModalfuseError(`CSV row ${r + 1} (line ${line}) has the wrong number of columns`, {
        file,
        expected: cols,
        found: record.length,
      });
    }
    for (let c = 0; c < cols; c++) {
      const v = parseNumberCell(record[c]);
      if (v === undefined) {
        const colName = header ? ` "${header[c]}"` : '';
        throw new ModalfuseError(`CSV row ${r + 1} (line ${line}), column ${c + 1}${colName} is not a number`, {
          file,
          expected: 'a number',
          found: record[c] === '' ? 'an empty cell' : JSON.stringify(record[c]),
        });
      }
      data[r * cols + c] = v;
    }
  }
  const out: CsvArray = { data, shape: [rows.length, cols] };
  if (header) out.header = header;
  return out;
}

/** Reads a CSV file of numeric rows (header optional, auto-detected) to a float32 matrix. */
export function readCsv(file: string, opts: ReadCsvOptions = {}): CsvArray {
  let text: string;
  checkRegularFile(file, 'a CSV file');
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new ModalfuseError(code === 'ENOENT' ? 'file not found' : `cannot read file (${code ?? String(e)})`, {
      file,
      expected: 'a CSV file',
      found: code === 'ENOENT' ? 'no such file' : code,
    });
  }
  return parseCsv(text, opts, file);
}
