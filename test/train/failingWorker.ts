// A gradient worker that starts like the real one and fails on the first shard it is sent; imported
// with "?start" in its URL, it fails as it starts instead.
import { parentPort } from "node:worker_threads";

if (new URL(import.meta.url).search === "?start") {
  parentPort!.postMessage({ kind: "error", message: "start rejected on purpose" });
} else {
  parentPort!.on("message", () => {
    parentPort!.postMessage({ kind: "error", message: "shard rejected on purpose" });
  });
  parentPort!.postMessage({ kind: "ready" });
}
