import { describe, expect, it } from "vitest";
import { renderHtmlReport } from "../../src/demo/report.js";
import { escapeHtml, formatUnits, renderSvgLineChart } from "../../src/core/report/html.js";
import type { DemoResult } from "../../src/demo/types.js";

function sampleResult(): DemoResult {
  const addr = (n: number) => `0x${String(n).repeat(40)}`;
  return {
    settings: {
      contributors: 2,
      rounds: 2,
      strategy: "fedavg",
      strategyParams: {},
      encoding: "float32",
      partition: "iid",
      epochs: 1,
      seed: 7,
      attackers: 1,
      attack: "scale",
      attackFactor: 10,
      data: "generated <digits>",
      model: "mlp-digits",
      rewardPerRound: "100000000000000000000",
    },
    chain: { url: "http://127.0.0.1:8545", chainId: 31337, token: addr(1), registry: addr(2), distributor: addr(3) },
    jobId: "1",
    contributors: [
      { name: "c1", address: addr(4), samples: 600 },
      { name: "c2", address: addr(5), samples: 600, attack: { kind: "scale", factor: 10 } },
    ],
    baseline: { accuracy: 0.1, loss: 2.3 },
    validationSamples: 400,
    rounds: [
      {
        round: 1,
        state: "published",
        submissions: [
          { contributor: "c1", address: addr(4), samples: 600, poisoned: false },
          { contributor: "c2", address: addr(5), samples: 600, poisoned: true },
        ],
        accuracy: 0.62,
        loss: 1.1,
        modelCid: "bafyround1",
        scores: [
          { contributor: "c1", address: addr(4), score: 0.9, reward: "90000000000000000000" },
          { contributor: "c2", address: addr(5), score: 0.1, reward: "10000000000000000000" },
        ],
        txHash: "0xabc1",
        durationMs: 1000,
      },
      {
        round: 2,
        state: "published",
        submissions: [],
        accuracy: 0.81,
        loss: 0.6,
        modelCid: "bafyround2",
        scores: [{ contributor: "c1", address: addr(4), score: 1, reward: "100000000000000000000" }],
        txHash: "0xabc2",
        durationMs: 1000,
      },
    ],
    claims: [{ contributor: "c1", address: addr(4), claimed: "190000000000000000000", txHashes: ["0xc1"], balance: "190000000000000000000" }],
    inference: [
      { who: "holder", address: addr(4), answered: true, predictions: [{ label: 3, confidence: 0.97 }, { label: 1, confidence: 0.6, truth: 1 }, { label: 2, confidence: 0.5, truth: 7 }] },
      {
        who: "non-holder",
        address: addr(6),
        answered: false,
        denial: { code: "GATE_DENIED", message: "needs <1> DAT", held: "0", required: "1000000000000000000", token: addr(1) },
      },
    ],
    token: { symbol: "DAT", decimals: 18 },
    durationMs: 42_000,
  };
}

describe("renderHtmlReport", () => {
  it("writes one self-contained HTML document with the curve, the rounds, rewards and inference", () => {
    // Prepare
    const result = sampleResult();

    // Execute
    const html = renderHtmlReport(result, { generatedAt: new Date("2025-01-01T00:00:00Z") });

    // Assert
    expect(html.startsWith("<!doctype html>")).toBe(true);
    expect(html.trimEnd().endsWith("</html>")).toBe(true);
    // No external assets: no scripts, stylesheets, images or fetched URLs.
    expect(html).not.toMatch(/<script|<link|<img|src=|url\(|@import/i);
    expect(html.match(/<svg /g)).toHaveLength(2);
    // Learning curve: a polyline through start + 2 rounds for accuracy.
    expect(html).toMatch(/<polyline[^>]*points="[\d.]+,[\d.]+ [\d.]+,[\d.]+ [\d.]+,[\d.]+"/);
    expect(html).toContain("62.0%");
    expect(html).toContain("81.0%");
    expect(html).toContain("0xabc1");
    expect(html).toContain("bafyround2");
    // Rewards formatted in whole tokens, per round and totals.
    expect(html).toContain("0.900 → 90 DAT");
    expect(html).toContain("190 DAT");
    expect(html).toContain("attacker (scale ×10)");
    // Both inference outcomes, the denial with held vs required.
    expect(html).toContain("answered — 3 (97%), 1 ✓ (60%), 2 ✗ (true 7) (50%)");
    expect(html).toContain("denied (holds 0 DAT, needs 1 DAT)");
    // Untrusted text is escaped.
    expect(html).toContain("generated &lt;digits&gt;");
    expect(html).toContain("needs &lt;1&gt; DAT");
    expect(html).not.toContain("<digits>");
    expect(html).toContain("2025-01-01T00:00:00.000Z");
  });

  it("renders a run whose rounds produced no metrics without NaN", () => {
    const result = sampleResult();
    result.baseline = undefined;
    result.rounds = result.rounds.map((r) => ({ ...r, accuracy: undefined, loss: undefined, txHash: undefined }));
    const html = renderHtmlReport(result);
    expect(html).not.toContain("NaN");
    expect(html).toContain("no data");
    expect(html).toContain("not published");
  });
});

describe("report helpers", () => {
  it("escapes HTML special characters", () => {
    expect(escapeHtml(`<a href="x">'&'</a>`)).toBe("&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;");
  });

  it("formats token base units", () => {
    expect(formatUnits("1000000000000000000", 18)).toBe("1");
    expect(formatUnits("1500000000000000000", 18)).toBe("1.5");
    expect(formatUnits(33n, 2)).toBe("0.33");
    expect(formatUnits("0", 18)).toBe("0");
    expect(formatUnits(-250n, 2)).toBe("-2.5");
  });

  it("breaks an SVG line at missing values and keeps dots for the rest", () => {
    const svg = renderSvgLineChart([{ name: "a", values: [0.1, undefined, 0.3, 0.4], color: "#000" }], {
      title: "t",
      xLabels: ["0", "1", "2", "3"],
    });
    expect(svg.match(/<polyline/g)).toHaveLength(1);
    expect(svg.match(/<circle/g)).toHaveLength(3);
  });
});

describe("formatUnits with a display precision", () => {
  it("truncates the fraction to the digits asked for", () => {
    expect(formatUnits("33473447880236588435", 18, 4)).toBe("33.4734");
    expect(formatUnits("1000000000000000000", 18, 4)).toBe("1");
    expect(formatUnits("100000000000000", 18, 4)).toBe("0.0001");
    expect(formatUnits("99999999999999", 18, 4)).toBe("0");
  });
});
