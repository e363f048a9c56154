/**
 * Imported for its effect, before any tensor exists: tfjs's cpu backend prints "Hi, looks like you
 * are running TensorFlow.js in Node.js…" on its first tensor unless the PROD flag is set, and that
 * banner lands in `dat round start`, `dat serve` and tests, which never asked for the cpu backend
 * by name. PROD also turns off per-op NaN checks, which dat does itself where it matters.
 */
import * as tf from "@tensorflow/tfjs";

tf.env().set("PROD", true);
