"""Design matrices that are checked before any solve, and least squares through them.

    x, names = checked_design(data, ["X", "W1", "W2"], what="outcome model")
    beta = solve_normal(x, y)

``checked_design`` refuses, in one line, what LAPACK would answer with noise or with an
arbitrary number: no more rows than parameters, and collinear columns (named, with what they
are a combination of). ``drop_collinear=True`` drops them with a warning instead; the
treatment is never dropped.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import numpy as np
import pandas as pd

from topiclab.causal.validation import DegenerateDesignError

# 1 − R² of a column on the columns before it, below which it counts as collinear. Columns are
# centred and scaled first, so this is scale-free; 1e-9 leaves room for the Gram matrix's
# squared condition number and still catches exact combinations (which give ~1e-16).
COLLINEAR_TOL = 1e-9


def design(data: pd.DataFrame, columns: Sequence[str], const: bool = True) -> np.ndarray:
    """A design matrix: a constant (unless ``const=False``), then ``columns``."""
    cols = [data[c].to_numpy(float) for c in columns]
    if const:
        cols.insert(0, np.ones(len(data)))
    return np.column_stack(cols) if cols else np.empty((len(data), 0))


def collinear(x: np.ndarray) -> list[tuple[int, list[int]]]:
    """Columns of ``x`` (constant first) that are linear combinations of earlier ones, each
    with the earlier columns it combines. Works on the k × k correlation matrix: O(n k²)."""
    const = x.max(axis=0) == x.min(axis=0)
    centred = x - np.where(const, 0.0, x.mean(axis=0))
    gram = centred.T @ centred  # one BLAS call; no scaled copy of the n × k matrix
    norms = np.sqrt(np.diag(gram))
    out: list[tuple[int, list[int]]] = []
    keep: list[int] = []
    for j in range(x.shape[1]):
        if norms[j] == 0:  # an all-zero column, or a second constant
            out.append((j, [i for i in keep if const[i]][:1]))
        else:
            keep.append(j)
    corr = gram[np.ix_(keep, keep)] / np.outer(norms[keep], norms[keep])
    if np.linalg.eigvalsh(corr).min() > COLLINEAR_TOL:
        return out
    kept: list[int] = []
    for pos, j in enumerate(keep):
        if kept:
            sub = corr[np.ix_(kept, kept)]
            coef = np.linalg.lstsq(sub, corr[kept, pos], rcond=None)[0]
            if 1.0 - float(corr[pos, kept] @ coef) < COLLINEAR_TOL:
                used = [keep[kept[i]] for i in np.flatnonzero(np.abs(coef) > 1e-6)]
                out.append((j, _with_constant(x, j, used, const)))
                continue
        kept.append(pos)
    return sorted(out)


def _with_constant(x: np.ndarray, j: int, used: list[int], const: np.ndarray) -> list[int]:
    """Centring hid the constant: name it when column j needs it (g2 = 1 − g0 − g1)."""
    c = [i for i in np.flatnonzero(const) if x[0, i] != 0][:1]
    if not c:
        return used
    fit = np.linalg.lstsq(x[:, used], x[:, j], rcond=None)[0]
    resid = x[:, j] - x[:, used] @ fit
    return used if float(resid @ resid) <= 1e-9 * float(x[:, j] @ x[:, j]) else c + used


def checked_design(
    data: pd.DataFrame,
    columns: Sequence[str],
    *,
    what: str,
    drop_collinear: bool = False,
    protect: Sequence[str] = (),
    const: bool = True,
) -> tuple[np.ndarray, list[str]]:
    """The design for ``columns`` after the degenerate-design checks; returns it and its
    column names ('const' first). ``protect`` names columns that may never be dropped."""
    names = (["const"] if const else []) + list(columns)
    x = design(data, columns, const)
    _check_rows(x, names, what)  # first: with n <= k the design is rank-deficient anyway
    bad = collinear(x)
    if bad:
        j, combo = bad[0]
        of = ", ".join(names[i] for i in combo) or "nothing (all zero)"
        listed = ", ".join(names[j] for j, _ in bad)
        touched = {names[i] for j, combo in bad for i in (j, *combo)}
        if not drop_collinear or touched & set(protect) or bad[0][0] == 0:
            raise DegenerateDesignError(
                f"the {what} design is rank-deficient: '{names[j]}' is a linear combination "
                f"of {of} (collinear: {listed}); drop it, or pass drop_collinear=True"
            )
        warnings.warn(f"{what}: dropped collinear column(s) {listed}", stacklevel=3)
        keep = [i for i in range(len(names)) if i not in {j for j, _ in bad}]
        x, names = x[:, keep], [names[i] for i in keep]
    _check_rows(x, names, what)
    return x, names


def _check_rows(x: np.ndarray, names: list[str], what: str) -> None:
    n, k = x.shape
    if n <= k:
        raise DegenerateDesignError(
            f"the {what} has {k} parameters ({', '.join(names)}) but only {n} complete rows: "
            f"it needs more than {k} rows"
        )


def solve_normal(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Least squares through the normal equations. Safe here: ``checked_design`` has refused
    near-collinear designs, and this is several times faster than an SVD at a million rows."""
    scale = 1.0 / np.sqrt(np.einsum("ij,ij->j", x, x))  # equilibrate: columns of unit norm
    gram = (x.T @ x) * np.outer(scale, scale)
    s = scale if y.ndim == 1 else scale[:, None]
    return s * np.linalg.solve(gram, s * (x.T @ y))


def lstsq(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Least squares by SVD (numpy's ``lstsq``): for bases that ``checked_design`` does not
    see, such as the sieve's polynomials."""
    return np.linalg.lstsq(x, y, rcond=None)[0]


def wald_f(beta: np.ndarray, cov: np.ndarray, idx: Sequence[int]) -> float:
    """Wald statistic for ``beta[idx] == 0`` divided by the number of restrictions."""
    b = beta[list(idx)]
    v = cov[np.ix_(list(idx), list(idx))]
    return float(b @ np.linalg.solve(v, b)) / len(idx)
