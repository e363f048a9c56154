/** What local training reports: per batch, per epoch, and for the whole run. */

export interface EpochMetrics {
  epoch: number;
  loss: number;
  accuracy?: number;
  valLoss?: number;
  valAccuracy?: number;
  samples: number;
  seconds: number;
  samplesPerSec: number;
}

export interface BatchProgress {
  epoch: number;
  batch: number;
  batches: number;
  samples: number;
  loss: number;
}

export interface TrainMetrics {
  loss: number;
  accuracy?: number;
  valLoss?: number;
  valAccuracy?: number;
  epochs: EpochMetrics[];
}
