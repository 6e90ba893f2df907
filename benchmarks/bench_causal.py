"""topiclab.causal against linearmodels and DoWhy: OLS and 2SLS time, and identification once
vs per fit, on n = 10^4 and 10^6 rows with 20 covariates.

    .venv/bin/python benchmarks/bench_causal.py                  # both sizes, 5 repeats
    .venv/bin/python benchmarks/bench_causal.py --sizes 10000 --repeats 3

Every fit starts from the same DataFrame (ours checks roles, missing and non-finite values,
rank and row count on the way; linearmodels gets the arrays it needs as DataFrames). Times are
medians of the repeats, in seconds; "ratio" is reference time / ours (> 1: ours is faster).
DoWhy's identification reads only the graph; it is timed once per size because it takes seconds
at 20 covariates, which is what caching it once per (graph, roles) saves.
"""

from __future__ import annotations

import argparse
import statistics
import time
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd

K = 20  # covariates


def data(n: int, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    w = rng.normal(size=(n, K))
    z, u = rng.normal(size=(2, n))
    x = z + 0.1 * w.sum(axis=1) + u + rng.normal(size=n)
    y = 2 * x + 0.2 * w.sum(axis=1) + u + rng.normal(size=n)
    frame = pd.DataFrame(w, columns=[f"W{i}" for i in range(K)])
    return frame.assign(Z=z, X=x, Y=y)


COVS = [f"W{i}" for i in range(K)]
GRAPH = "; ".join(
    ["Z -> X", "(U) -> X", "(U) -> Y", "X -> Y"] + [f"W{i} -> {v}" for i in range(K) for v in "XY"]
)


def median_time(fn: Callable[[], Any], repeats: int, warm: bool = True) -> float:
    """Median wall time of ``repeats`` calls, after one untimed call (lazy imports)."""
    if warm:
        fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def once(fn: Callable[[], Any]) -> float:
    return median_time(fn, 1, warm=False)


def run_size(n: int, repeats: int) -> list[tuple[str, float, float, str]]:
    from linearmodels.iv import IV2SLS

    from topiclab.causal import BackdoorOLS, TwoStageLeastSquares, dowhy_api, identify
    from topiclab.causal.graph import CausalGraph

    df = data(n)
    exog = df[COVS].assign(const=1.0)
    roles: dict[str, Any] = {"treatment": "X", "outcome": "Y", "covariates": COVS}
    ours_ols = BackdoorOLS()
    ours_iv = TwoStageLeastSquares({"use_dowhy": False})
    lm_ols = lambda: IV2SLS(df["Y"], exog.assign(X=df["X"]), None, None).fit(  # noqa: E731
        cov_type="unadjusted"
    )
    lm_iv = lambda: IV2SLS(df["Y"], exog, df[["X"]], df[["Z"]]).fit(  # noqa: E731
        cov_type="unadjusted", debiased=False
    )
    rows = []
    t_ours = median_time(lambda: ours_ols.fit(df, None, **roles), repeats)
    rows.append(("OLS", t_ours, median_time(lm_ols, repeats), "linearmodels IV2SLS (no endog)"))
    t_ours = median_time(lambda: ours_iv.fit(df, None, instruments="Z", **roles), repeats)
    rows.append(("2SLS", t_ours, median_time(lm_iv, repeats), "linearmodels IV2SLS"))
    # With the graph: identification (ours and DoWhy's) is cached, so fits after the first
    # pay nothing for it. The first fit pays it once.
    graph = CausalGraph.parse(GRAPH)
    identify._CACHE.clear()
    dowhy_api._ESTIMANDS.clear()
    with_graph = TwoStageLeastSquares({"use_dowhy": True})
    first = once(lambda: with_graph.fit(df, graph, **roles))
    later = median_time(lambda: with_graph.fit(df, graph, **roles), repeats)
    t_lm = median_time(lm_iv, repeats)
    identify._CACHE.clear()
    own = TwoStageLeastSquares({"use_dowhy": False})
    own_first = once(lambda: own.fit(df, graph, **roles))
    rows.append(("2SLS + graph, first fit, our identification", own_first, t_lm, "linearmodels"))
    rows.append(("2SLS + graph, first fit, DoWhy identification", first, t_lm, "linearmodels"))
    rows.append(("2SLS + graph, later fits (cached)", later, t_lm, "linearmodels"))
    # DoWhy per fit, as before the cache: building the model and identifying, every time.
    frame = pd.DataFrame(0.0, index=range(2), columns=graph.observed)
    per_fit = once(lambda: dowhy_api.identify(dowhy_api.causal_model(frame, graph, "X", "Y")))
    cached = median_time(lambda: dowhy_api.identified(graph, "X", "Y"), repeats)
    rows.append(("identification: DoWhy per fit vs cached", cached, per_fit, "DoWhy identify"))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 1_000_000])
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    warnings.simplefilter("ignore")
    print("| n | what | ours [s] | reference [s] | reference | ratio ref/ours |")
    print("|---|---|---|---|---|---|")
    for n in args.sizes:
        for what, ours, ref, name in run_size(n, args.repeats):
            print(f"| {n:,} | {what} | {ours:.4g} | {ref:.4g} | {name} | **{ref / ours:.2f}** |")


if __name__ == "__main__":
    main()
