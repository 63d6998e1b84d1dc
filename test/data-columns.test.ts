import { describe, expect, it } from "vitest";
import { logpColumns, logpPairColumns } from "../lib/data/columns";

describe("logpColumns / logpPairColumns", () => {
  it("one slot: the pivot's sum and mean, then the sources' lists", () => {
    expect(JSON.stringify(logpColumns("chosen", { sum: -6, mean: -2 }, [{ sum: -9, mean: -1.5 }]))).toBe(
      '{"ref_chosen_logps":-6,"ref_mean_chosen_logps":-2,"fuse_chosen_logps":[-9],"fuse_mean_chosen_logps":[-1.5]}',
    );
  });

  it("the published order: each column's chosen then its rejected entry, sources in order", () => {
    const cols = logpPairColumns(
      { pivot: { sum: -6, mean: -2 }, sources: [{ sum: -9, mean: -1.5 }, { sum: -4, mean: -1 }] },
      { pivot: { sum: -8, mean: -4 }, sources: [{ sum: -3, mean: -0.5 }, { sum: -7, mean: -3.5 }] },
    );
    expect(JSON.stringify(cols)).toBe(
      '{"ref_chosen_logps":-6,"ref_rejected_logps":-8,"ref_mean_chosen_logps":-2,"ref_mean_rejected_logps":-4,' +
        '"fuse_chosen_logps":[-9,-4],"fuse_rejected_logps":[-3,-7],"fuse_mean_chosen_logps":[-1.5,-1],"fuse_mean_rejected_logps":[-0.5,-3.5]}',
    );
  });
});
