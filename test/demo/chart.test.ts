import { describe, expect, it } from "vitest";
import { renderLineChart } from "../../src/demo/chart.js";

describe("renderLineChart", () => {
  it("draws a rising series from bottom-left to top-right with labels, axis and legend", () => {
    // Prepare
    const series = [{ name: "accuracy", values: [0.1, 0.5, 0.9] }];

    // Execute
    const text = renderLineChart(series, { height: 5, width: 9, title: "Validation accuracy" });
    const lines = text.split("\n");

    // Assert
    expect(lines[0]).toBe("Validation accuracy");
    expect(lines[1]).toBe("0.90 ┤        ●");
    expect(lines[3]).toBe("0.50 ┤    ●·");
    expect(lines[5]).toBe("0.10 ┤●·");
    expect(lines[6]).toBe("     └─────────");
    expect(lines[7]).toBe("      0   1   2");
    expect(lines[8]).toBe("      ● accuracy");
    // Links between the points make the curve continuous.
    expect(lines[2]).toContain("·");
    expect(lines[4]).toContain("·");
  });

  it("uses the fixed y range and clamps values outside it", () => {
    const text = renderLineChart([{ name: "a", values: [-1, 2] }], { height: 3, width: 4, yMin: 0, yMax: 1, decimals: 1 });
    const lines = text.split("\n");
    expect(lines[0]).toBe("1.0 ┤   ●");
    expect(lines[2]).toBe("0.0 ┤●");
  });

  it("plots several series with their own markers and custom x labels", () => {
    const text = renderLineChart(
      [
        { name: "acc", values: [0.2, 0.8] },
        { name: "loss", values: [0.8, 0.2], marker: "x" },
      ],
      { height: 4, width: 6, xLabel: (i) => `r${i + 1}` },
    );
    const lines = text.split("\n");
    expect(lines[0]).toBe("0.80 ┤x    ●");
    expect(lines[3]).toBe("0.20 ┤●    x");
    expect(lines[5]).toBe("      r1   r2");
    expect(lines[6]).toBe("      ● acc   x loss");
  });

  it("handles a flat series, one point and gaps without throwing", () => {
    expect(renderLineChart([{ name: "f", values: [0.5, 0.5] }], { height: 3, width: 3 }).split("\n")[1]).toBe("0.50 ┤●·●");
    expect(renderLineChart([{ name: "one", values: [0.3] }], { height: 2, width: 1 })).toContain("●");
    const gap = renderLineChart([{ name: "g", values: [0, Number.NaN, 1] }], { height: 3, width: 5 });
    expect(gap).not.toContain("·");
  });

  it("says so when there is nothing to plot", () => {
    expect(renderLineChart([], { title: "t" })).toBe("t\n(no data)");
    expect(renderLineChart([{ name: "n", values: [Number.NaN, Number.POSITIVE_INFINITY] }])).toBe("(no data)");
  });
});
