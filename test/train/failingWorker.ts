// A gradient worker that starts like the real one and fails on the first shard it is sent.
import { parentPort } from "node:worker_threads";

parentPort!.on("message", () => {
  parentPort!.postMessage({ kind: "error", message: "shard rejected on purpose" });
});
parentPort!.postMessage({ kind: "ready" });
