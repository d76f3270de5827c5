import { describe, expect, it } from "vitest";
import { miaAuc, miaScore, rocCurve } from "../src/scores/mia.js";

/** AUC as the Mann–Whitney statistic: P(member scores above non-member) + ½ P(tie), score = −NLL. */
function mannWhitney(members: number[], nonmembers: number[]): number {
  let wins = 0;
  for (const m of members) {
    for (const n of nonmembers) {
      if (-m > -n) wins += 1;
      else if (-m === -n) wins += 0.5;
    }
  }
  return wins / (members.length * nonmembers.length);
}

describe("MIA AUC (sklearn roc_curve + auc)", () => {
  it("is 1 when every member has a lower loss than every non-member, 0 when reversed", () => {
    expect(miaAuc([0.1, 0.2], [0.5, 0.9, 1.2])).toBe(1);
    expect(miaAuc([0.5, 0.9, 1.2], [0.1, 0.2])).toBe(0);
  });

  it("gives ties half credit (hand-worked)", () => {
    // members NLL 1, 2, 2; non-members 2, 3 → scores −1, −2, −2 | −2, −3.
    // Thresholds −1: (fp 0, tp 1); −2: (fp 1, tp 3); −3: (fp 2, tp 3). Curve (0,0) (0,1/3) (1/2,1) (1,1):
    // area = ½·(1/3 + 1)/2 + ½·(1 + 1)/2 = 1/3 + 1/2 = 5/6 — the Mann–Whitney count 5 of 6 pairs.
    const auc = miaAuc([1, 2, 2], [2, 3]);
    expect(auc).toBeCloseTo(5 / 6, 15);
    expect(auc).toBeCloseTo(mannWhitney([1, 2, 2], [2, 3]), 15);
  });

  it("is 0.5 when every score is tied", () => {
    expect(miaAuc([0.7, 0.7, 0.7], [0.7, 0.7])).toBe(0.5);
  });

  it("agrees with the Mann–Whitney statistic on random data with many ties", () => {
    let seed = 11;
    const next = () => (seed = (seed * 48271) % 2147483647);
    for (let trial = 0; trial < 50; trial++) {
      const members = Array.from({ length: 1 + (next() % 40) }, () => (next() % 7) / 2);
      const nonmembers = Array.from({ length: 1 + (next() % 40) }, () => (next() % 7) / 2);
      expect(miaAuc(members, nonmembers)).toBeCloseTo(mannWhitney(members, nonmembers), 12);
    }
  });

  it("drops collinear interior points as sklearn's drop_intermediate does", () => {
    // Scores 4 3 2 1 with labels 1 1 0 0: counts (tp, fp) = (1,0) (2,0) (2,1) (2,2). The first and last
    // points are always kept; (2,0) is a corner; (2,1) lies on the segment from (2,0) to (2,2): dropped.
    const curve = rocCurve([1, 1, 0, 0], [4, 3, 2, 1]);
    expect([...curve.fpr]).toEqual([0, 0, 0, 1]);
    expect([...curve.tpr]).toEqual([0, 0.5, 1, 1]);
    expect([...curve.thresholds]).toEqual([Number.POSITIVE_INFINITY, 4, 3, 1]);
  });

  it("needs both members and non-members, and no NaN", () => {
    expect(() => miaAuc([], [1])).toThrow("MIA AUC needs members and non-members (got 0 and 1)");
    expect(() => miaAuc([1, Number.NaN], [1])).toThrow("MIA: member NLL #1 is NaN");
  });
});

describe("MIA score", () => {
  it("is 1 − 2|AUC − 0.5|", () => {
    expect(miaScore(0.5)).toBe(1);
    expect(miaScore(1)).toBe(0);
    expect(miaScore(0)).toBe(0);
    expect(miaScore(0.75)).toBe(0.5);
    expect(miaScore(0.25)).toBe(0.5);
  });
});
