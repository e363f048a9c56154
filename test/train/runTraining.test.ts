import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { openDatabase } from "../../src/db/index.js";
import { getTrainingRun } from "../../src/db/trainingRuns.js";
import { readDeltaFiles, runTraining } from "../../src/train/run.js";

const fixtures = path.resolve(__dirname, "../../fixtures");

describe("runTraining", () => {
  it("trains from a CSV, keeps model, delta and metrics under runs/<id> and a db row; resumes a stopped run", async () => {
    // Prepare
    const home = fs.mkdtempSync(path.join(os.tmpdir(), "dat-home-"));
    const rows = ["a,b,c,d,e,f,g,h,label"];
    for (let i = 0; i < 120; i++) rows.push([...Array.from({ length: 8 }, (_, k) => ((i * (k + 3)) % 7) + (i % 3) * 4), i % 3].join(","));
    fs.writeFileSync(path.join(home, "t.csv"), rows.join("\n") + "\n");
    const controller = new AbortController();
    // Execute: stop during epoch 2, then resume
    const stopped = await runTraining({
      home, modelDir: path.join(fixtures, "mlp-tabular"), dataPath: path.join(home, "t.csv"), normalize: "zscore",
      epochs: 3, batchSize: 8, lr: 0.05, valSplit: 0.2, backend: "wasm", signal: controller.signal,
      onBatch: (p) => { if (p.epoch === 2 && p.batch === 2) controller.abort(); },
    });
    const resumed = await runTraining({ home, resume: true, backend: "wasm" });
    // Assert
    expect(stopped.stopped).toBe(true);
    expect(resumed.id).toBe(stopped.id);
    expect(resumed.epochsCompleted).toBe(3);
    const db = openDatabase(home);
    const row = getTrainingRun(db, resumed.id)!;
    db.close();
    expect(row.status).toBe("completed");
    expect(row.sampleCount).toBe(resumed.sampleCount);
    expect(row.modelHash).toMatch(/^[0-9a-f]{64}$/);
    const delta = await readDeltaFiles(row.deltaPath!);
    expect(delta.map((d) => d.name)).toEqual(resumed.delta.map((d) => d.name));
    expect(Array.from(delta[0].data)).toEqual(Array.from(resumed.delta[0].data));
    expect(fs.existsSync(path.join(row.runDir, "model", "model.json"))).toBe(true);
    expect(JSON.parse(fs.readFileSync(path.join(row.runDir, "metrics.json"), "utf8")).epochs).toHaveLength(3);
  });

  it("fails before training when the forced backend cannot load or the data does not fit", async () => {
    const home = fs.mkdtempSync(path.join(os.tmpdir(), "dat-home-"));
    fs.writeFileSync(path.join(home, "t.csv"), "a,label\n1,0\n");
    await expect(runTraining({ home, modelDir: path.join(fixtures, "mlp-tabular"), dataPath: path.join(home, "t.csv"), backend: "native" }))
      .rejects.toThrow(/Backend "native" cannot load: @tensorflow\/tfjs-node is not installed/);
    await expect(runTraining({ home, modelDir: path.join(fixtures, "mlp-tabular"), dataPath: path.join(home, "t.csv"), backend: "cpu" }))
      .rejects.toThrow(/does not fit .*model\.json: the data has 1 features per sample \[1\].*the model expects input \[8\]/);
    await expect(runTraining({ home, resume: true })).rejects.toThrow(/No stopped training run to resume/);
  });
});
