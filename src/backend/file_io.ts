/**
 * A `file://`-style IO handler for tf.LayersModel save/load in Node without tfjs-node.
 * tfjs-core ships only browser handlers (and tfjs-node's file handler needs its native
 * binary), so this small handler writes `model.json` + `weights.bin` in the standard
 * tfjs layout, which tfjs-node, the browser loader and Python's tfjs converter all read.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';

const MODEL_JSON = 'model.json';
const WEIGHTS_BIN = 'weights.bin';

export function fileHandler(dir: string): tf.io.IOHandler {
  const root = dir.startsWith('file://') ? dir.slice('file://'.length) : dir;
  return {
    async save(artifacts: tf.io.ModelArtifacts): Promise<tf.io.SaveResult> {
      fs.mkdirSync(root, { recursive: true });
      const weightData = artifacts.weightData === undefined
        ? new ArrayBuffer(0)
        : tf.io.CompositeArrayBuffer.join(artifacts.weightData);
      const modelJson: tf.io.ModelJSON = {
        modelTopology: artifacts.modelTopology as tf.io.ModelJSON['modelTopology'],
        format: artifacts.format,
        generatedBy: artifacts.generatedBy,
        convertedBy: artifacts.convertedBy,
        weightsManifest: [{ paths: [`./${WEIGHTS_BIN}`], weights: artifacts.weightSpecs ?? [] }],
      };
      if (artifacts.trainingConfig) modelJson.trainingConfig = artifacts.trainingConfig;
      if (artifacts.userDefinedMetadata) modelJson.userDefinedMetadata = artifacts.userDefinedMetadata;
      fs.writeFileSync(path.join(root, WEIGHTS_BIN), Buffer.from(weightData));
      fs.writeFileSync(path.join(root, MODEL_JSON), JSON.stringify(modelJson));
      return {
        modelArtifactsInfo: {
          dateSaved: new Date(),
          modelTopologyType: 'JSON',
          modelTopologyBytes: JSON.stringify(artifacts.modelTopology).length,
          weightSpecsBytes: JSON.stringify(artifacts.weightSpecs).length,
          weightDataBytes: weightData.byteLength,
        },
      };
    },
    async load(): Promise<tf.io.ModelArtifacts> {
      const jsonPath = path.join(root, MODEL_JSON);
      if (!fs.existsSync(jsonPath)) {
        const { ModalfuseError } = await import('../errors.js');
        throw new ModalfuseError('model file not found', { file: jsonPath });
      }
      const modelJson = JSON.parse(fs.readFileSync(jsonPath, 'utf8')) as tf.io.ModelJSON;
      const specs: tf.io.WeightsManifestEntry[] = [];
      const buffers: Buffer[] = [];
      for (const group of modelJson.weightsManifest ?? []) {
        for (const p of group.paths) buffers.push(fs.readFileSync(path.join(root, p)));
        specs.push(...group.weights);
      }
      const joined = Buffer.concat(buffers);
      const weightData = joined.buffer.slice(joined.byteOffset, joined.byteOffset + joined.byteLength);
      return tf.io.getModelArtifactsForJSONSync(modelJson, specs, weightData as ArrayBuffer);
    },
  };
}
