/**
 * The POM, YouTube and MMMO utterance sequences of the Memory Fusion Network code
 * (github.com/pliang279/MFN, `new_data/{pom,youtube,mmmo}`, MIT): one HDF5 file per
 * modality and split, `{audio,video,y}_{train,valid,test}.h5`, each holding one float64
 * dataset. Audio and video are [N, 20, D] sequences; text embeddings exist only for valid
 * and test of YouTube and MMMO, so text is loaded only where all three splits have it.
 */
import fs from 'node:fs';
import path from 'node:path';
import { ModalfuseError } from '../errors.js';
import { readHdf5, type Hdf5Array } from '../data/hdf5.js';
import { findNonFinite, validateDataset } from '../data/validate.js';
import { SPLITS, sizeOf, type Dataset, type ModalitySpec, type SplitData, type SplitName, type TaskSpec } from '../data/types.js';

export type MfnName = 'pom' | 'youtube' | 'mmmo';
export const MFN_NAMES: MfnName[] = ['pom', 'youtube', 'mmmo'];

export interface LoadMfnOptions {
  /** Splits to load (default all three). */
  splits?: SplitName[];
  /**
   * Replace NaN/Inf in features by 0 and record the counts in provenance. Without it,
   * non-finite features are an error (validation names modality, split, file, first index).
   */
  nanToZero?: boolean;
}

/** The label layout of each data set, as found in the files. */
const TASKS: Record<MfnName, TaskSpec> = {
  // 17 speaker-trait scores per video. The MFN repository does not name the columns.
  pom: { kind: 'regression', targets: Array.from({ length: 17 }, (_, i) => `trait_${i + 1}`) },
  // One-hot y [N, 3]. The MFN repository does not say which column is which sentiment.
  youtube: { kind: 'classification', classes: ['0', '1', '2'] },
  // y [N], one sentiment score per video (1..5 in the files).
  // acc2 on MMMO: label > 3.5 vs prediction > 3.5 (DESIGN.md)
  mmmo: { kind: 'regression', targets: ['sentiment'], acc2Threshold: 3.5 },
};

const LABEL_NOTES: Record<MfnName, string> = {
  pom:
    'y is float64 [N, 17], one score per speaker trait (columns unnamed in the source, here trait_1..trait_17). ' +
    'Columns 9-14 range 1-5, the others 1-7. The MFN paper lists 16 POM traits (confident, passionate, voice pleasant, ' +
    'dominant, credible, vivid, expertise, entertaining, reserved, trusting, relaxed, outgoing, thorough, nervous, ' +
    'persuasive, humorous); the 1-5 columns 9-14 fit reserved..nervous in that order, but the source does not confirm ' +
    'the mapping or say what the 17th column is, so no names are guessed.',
  youtube:
    'y is float32 one-hot [N, 3], converted to class indices by argmax; the class order is not documented in the ' +
    'source, so classes are named "0", "1", "2".',
  mmmo: 'y is float64 [N], one sentiment score per video (1-5).',
};

function resolveDir(dir: string, name: MfnName): string {
  const sub = path.join(dir, name);
  if (fs.existsSync(path.join(sub, 'audio_train.h5')) || fs.existsSync(sub)) return sub;
  // Also accept the data set's own folder.
  if (fs.existsSync(path.join(dir, 'audio_train.h5'))) return dir;
  throw new ModalfuseError(`MFN data set "${name}" not found`, {
    file: sub,
    expected: `a folder with {audio,video,y}_{train,valid,test}.h5`,
    found: 'no such folder',
  });
}

function checkSequence(arr: Hdf5Array, file: string, modality: string, want?: number[]): void {
  if (arr.shape.length !== 3) {
    throw new ModalfuseError(`modality "${modality}" must be a [N, steps, features] sequence`, {
      file,
      modality,
      expected: want ? ['N', ...want] : '[N, 20, D]',
      found: arr.shape,
    });
  }
  if (want && (arr.shape[1] !== want[0] || arr.shape[2] !== want[1])) {
    throw new ModalfuseError(`modality "${modality}" has a different shape than in the train split`, {
      file,
      modality,
      expected: [arr.shape[0], ...want],
      found: arr.shape,
    });
  }
}

/**
 * Loads POM, YouTube or MMMO from `dir` (the `mfn` folder holding `pom/`, `youtube/`,
 * `mmmo/`, or the data set's own folder). Features become float32; NaN/Inf are reported
 * by validation unless `nanToZero` is set.
 */
export async function loadMfn(dir: string, name: MfnName, opts: LoadMfnOptions = {}): Promise<Dataset> {
  if (!MFN_NAMES.includes(name)) {
    throw new ModalfuseError('unknown MFN data set', { expected: `one of ${MFN_NAMES.join(', ')}`, found: String(name) });
  }
  const root = resolveDir(dir, name);
  const task = TASKS[name];
  const wanted = opts.splits ?? SPLITS;
  for (const s of wanted) {
    if (!SPLITS.includes(s)) throw new ModalfuseError('unknown split name', { expected: SPLITS.join(', '), found: String(s) });
  }

  // Modalities: audio and video always; text only if every split has it.
  const mods = ['audio', 'video'];
  if (SPLITS.every((s) => fs.existsSync(path.join(root, `text_${s}_emb.h5`)))) mods.push('text');
  const fileOf = (mod: string, split: SplitName): string =>
    path.join(root, mod === 'text' ? `text_${split}_emb.h5` : `${mod}_${split}.h5`);

  // Per-sample shapes come from the first split read; every other split must agree.
  const modalities: Record<string, ModalitySpec> = {};
  const splits: Partial<Record<SplitName, SplitData>> = {};
  const files: Record<string, string> = {};
  const nonFinite: Record<string, Record<string, number>> = {};
  const replaced: Record<string, Record<string, number>> = {};
  const sourceDtypes: Record<string, string> = {};

  for (const split of SPLITS) {
    if (!wanted.includes(split)) continue;
    const features: Record<string, Float32Array> = {};
    let n: number | undefined;
    let nFile = '';
    for (const mod of [...mods].sort()) {
      const file = fileOf(mod, split);
      const arr = await readHdf5(file);
      files[`${mod}.${split}`] = file;
      sourceDtypes[mod] = arr.dtype;
      const known = modalities[mod]?.shape;
      checkSequence(arr, file, mod, known);
      if (!known) modalities[mod] = { kind: 'sequence', shape: [arr.shape[1], arr.shape[2]] };
      if (n === undefined) {
        n = arr.shape[0];
        nFile = file;
      } else if (arr.shape[0] !== n) {
        throw new ModalfuseError(`modality "${mod}" has a different number of samples than ${path.basename(nFile)} in split "${split}"`, {
          file,
          modality: mod,
          expected: n,
          found: arr.shape[0],
        });
      }
      const rep = findNonFinite(arr.data, sizeOf(modalities[mod].shape));
      (nonFinite[mod] ??= {})[split] = rep.count;
      if (rep.count > 0 && opts.nanToZero) {
        const d = arr.data;
        for (let i = 0; i < d.length; i++) if (!Number.isFinite(d[i])) d[i] = 0;
        (replaced[mod] ??= {})[split] = rep.count;
      }
      features[mod] = arr.data;
    }

    const yfile = path.join(root, `y_${split}.h5`);
    const y = await readHdf5(yfile);
    files[`labels.${split}`] = yfile;
    sourceDtypes.y = y.dtype;
    const labels = labelsOf(name, y, n!, yfile);
    splits[split] = { n: n!, features, labels };
  }

  const nanWasReplaced = Object.keys(replaced).length > 0;
  const ds: Dataset = {
    name: `mfn:${name}`,
    task,
    modalities,
    splits,
    provenance: {
      source: `Memory Fusion Network code, github.com/pliang279/MFN, new_data/${name}`,
      paper: 'Zadeh et al., Memory Fusion Network for Multi-view Sequential Learning, AAAI 2018',
      license: 'MIT',
      loader: 'modalfuse loadMfn',
      dir: path.resolve(root),
      files,
      sourceDtypes,
      conversion: 'float64 features and labels converted to float32',
      modalitiesNote:
        mods.includes('text')
          ? 'audio, video and text (GloVe) sequences'
          : 'audio and video only: text embeddings are absent from the train split (or from every split)',
      labels: LABEL_NOTES[name],
      nonFiniteFeatureValues: nonFinite,
      nanToZero: opts.nanToZero ? { applied: nanWasReplaced, replaced } : false,
    },
  };
  validateDataset(ds, { file: root, fileOf: (m, s) => files[`${m}.${s}`] });
  return ds;
}

function labelsOf(name: MfnName, y: Hdf5Array, n: number, file: string): Int32Array | Float32Array {
  if (y.shape[0] !== n) {
    throw new ModalfuseError('labels have a different number of samples than the features', {
      file,
      expected: n,
      found: y.shape[0],
    });
  }
  if (name === 'youtube') {
    if (y.shape.length !== 2 || y.shape[1] !== 3) {
      throw new ModalfuseError('YouTube labels must be one-hot [N, 3]', { file, expected: [n, 3], found: y.shape });
    }
    const out = new Int32Array(n);
    for (let i = 0; i < n; i++) {
      let hot = -1;
      let ones = 0;
      for (let c = 0; c < 3; c++) {
        const v = y.data[i * 3 + c];
        if (v === 1) {
          ones++;
          hot = c;
        } else if (v !== 0) {
          ones = -1;
          break;
        }
      }
      if (ones !== 1) {
        throw new ModalfuseError(`YouTube label of sample ${i} is not one-hot`, {
          file,
          expected: 'exactly one 1 and two 0s',
          found: Array.from(y.data.subarray(i * 3, i * 3 + 3)),
        });
      }
      out[i] = hot;
    }
    return out;
  }
  const width = name === 'pom' ? 17 : 1;
  const ok = name === 'pom' ? y.shape.length === 2 && y.shape[1] === 17 : y.shape.length === 1 || (y.shape.length === 2 && y.shape[1] === 1);
  if (!ok) {
    throw new ModalfuseError(`${name} labels have an unexpected shape`, {
      file,
      expected: width === 1 ? [n] : [n, width],
      found: y.shape,
    });
  }
  return y.data;
}
