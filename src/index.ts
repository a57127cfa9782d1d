/**
 * modalfuse: multimodal fusion for TensorFlow.js.
 *
 * ```ts
 * import { initBackend, loadDataset, FusionModel, train, evaluate } from 'modalfuse';
 * await initBackend();
 * const data = await loadDataset('synthetic:synergy');
 * const model = FusionModel.create('concat', data, { hidden: 32 });
 * await train(model, data, { epochs: 10 });
 * console.log(evaluate(model, data).metrics);
 * await model.save('my-model');
 * ```
 */
export { initBackend, backendName, tf, tfl, type BackendName, type BackendOptions } from './backend/index.js';
export { fileHandler } from './backend/file_io.js';
export { ModalfuseError } from './errors.js';
export * from './data/index.js';
export * from './datasets/mfn.js';
export * from './datasets/synthetic.js';
export * from './datasets/synthetic_seq.js';
export * from './datasets/resolve.js';
export * from './data/preprocess.js';
export { withTask } from './data/with_task.js';
export { getTask, metricKeys, retrievalMetrics, reverseKeys, retrievalTaskFrom, trainedOutputs, LOSS_KINDS, RECALL_KS, type Task, type LossTerm, type LossKind, type LossTarget, type OutputArrays, type RetrievalInput, type TaskMetricOptions } from './tasks/index.js';
export * from './registry/index.js';
export * from './fusion/index.js';
export { encode, encoderKind, SeededDropout, type EncoderOptions } from './encoders/index.js';
export { compose } from './models/compose.js';
export { FusionModel, rawToOutput, upgradeMeta, MODEL_META, type ModelMeta, type PredictOptions } from './models/fusion_model.js';
export { train, checkTrainingData, trainingSettings, TRAIN_DEFAULTS, type TrainOptions, type TrainResult, type EpochRecord } from './train/train.js';
export { objectiveLoss, pairSoftmaxLoss, sampledSoftmaxLoss, type ObjectiveBatch } from './train/objective.js';
export { sampleNegatives, negativesRng } from './train/negatives.js';
export { taskLoss } from './train/losses.js';
export * from './eval/metrics.js';
export * from './eval/evaluate.js';
export * from './eval/cost.js';
export { VERSION, LIBRARY } from './version.js';
// AV-MNIST (importing it registers the `avmnist` data set name), its DSP, robustness, protocol
export * from './datasets/avmnist/build.js';
export { LogMel, RealFFT, logMelSpectrogram, melBandCenters, melFilterbank, recordingToLogMel } from './data/audio.js';
export { fitPcaFraction, pcaReconstruct, type PcaFit } from './data/pca.js';
export * from './eval/robustness.js';
export * from './experiments/avmnist_protocol.js';
export { applyModalityDropout, modalityDropoutMasks } from './train/modality_dropout.js';
export { FastLSTM } from './encoders/lstm.js';
export { CNN_DEFAULTS, cnnEncoderCost, cnnOptionsFrom, encoderOutput, parseFilters, type CnnOptions } from './encoders/cnn.js';
// benchmark, prediction, import and report
export * from './experiments/bench.js';
export * from './predict/input.js';
export * from './predict/avmnist_raw.js';
export * from './experiments/suite.js';
export * from './data/import.js';
export * from './report/html.js';
export * from './report/summary.js';
export * from './report/table.js';
export * from './eval/explain.js';
export * from './predict/retrieve.js';
