"""One-line errors for bad causal inputs, and the checks that raise them.

Every error names the offending column, node or role, so the CLI can print it as one line::

    >>> check_numeric(df, ["educ", "name"])
    NonNumericColumnError: column 'name' has dtype object; causal estimators need numbers ...
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np
import pandas as pd

from topiclab.core.errors import TopiclabError


class CausalInputError(TopiclabError, ValueError):
    """Base of every bad-input error of ``topiclab.causal``."""


class GraphMismatchError(CausalInputError):
    """The causal graph names a node the DataFrame lacks (or the other way round for roles)."""


class MissingInstrumentError(CausalInputError):
    """An IV estimator was asked for a treatment that has no instrument."""


class NonNumericColumnError(CausalInputError):
    """A column an estimator would use is not numeric."""


class RoleError(CausalInputError):
    """A role (treatment, outcome, ...) is missing, repeated or not a column."""


class DegenerateDesignError(CausalInputError):
    """The data cannot identify the model: too few rows, collinear columns, no variation."""


class NonFiniteError(CausalInputError):
    """A used column holds ±inf, is entirely missing, or has missing rows under missing='raise'."""


class InvalidDesignError(CausalInputError):
    """The causal graph shows that the adjustment set or an instrument is not valid."""


def _listing(names: Iterable[str], limit: int = 12) -> str:
    names = list(names)
    head = ", ".join(names[:limit])
    return head + (f", ... ({len(names)} in all)" if len(names) > limit else "")


def check_columns(data: pd.DataFrame, columns: Sequence[str], role: str) -> None:
    """Every name in ``columns`` must be a column of ``data``."""
    for name in columns:
        if name not in data.columns:
            raise RoleError(
                f"{role} '{name}' is not a column of the data (columns: {_listing(data.columns)})"
            )


def check_numeric(data: pd.DataFrame, columns: Sequence[str]) -> None:
    """Estimators do linear algebra: every used column must be numeric (bool counts)."""
    for name in columns:
        dtype = data[name].dtype
        if not (pd.api.types.is_numeric_dtype(dtype) or pd.api.types.is_bool_dtype(dtype)):
            raise NonNumericColumnError(
                f"column '{name}' has dtype {dtype}; causal estimators need numbers "
                "(encode it, e.g. with pd.get_dummies, first)"
            )


def check_distinct(roles: dict[str, Sequence[str]]) -> None:
    """A variable can play one role only (an instrument cannot also be the outcome)."""
    seen: dict[str, str] = {}
    for role, names in roles.items():
        for name in names:
            if name in seen:
                raise RoleError(f"variable '{name}' is both {seen[name]} and {role}")
            seen[name] = role


def complete_rows(data: pd.DataFrame, columns: Sequence[str]) -> tuple[pd.DataFrame, int]:
    """The rows without a missing value in ``columns`` (listwise deletion, as linearmodels does)."""
    used = data.loc[:, list(dict.fromkeys(columns))]
    kept = used.dropna()
    return kept.astype(float), len(used) - len(kept)


def as_names(value: str | Sequence[str] | None, role: str) -> list[str] | None:
    """A role given as one column name or a list of them; a string is ONE column, never split
    into characters (``covariates="WZ"`` means the column WZ)."""
    if value is None:
        return None
    if isinstance(value, str):
        return [value]
    names = list(value)
    for name in names:
        if not isinstance(name, str):
            raise RoleError(f"{role} names must be strings, got {name!r}")
    return names


def one_name(value: str | Sequence[str], role: str) -> str:
    """The treatment and outcome are one column each: a str or a one-element list."""
    names = as_names(value, role) or []
    if len(names) != 1:
        raise RoleError(f"{role} must be one column, got {len(names)}: {_listing(names)}")
    return names[0]


def check_finite(data: pd.DataFrame, columns: Sequence[str], missing: str) -> None:
    """No ±inf anywhere, no column that is entirely missing, no missing row if
    ``missing='raise'``: each is one line naming the column (LAPACK would say 'SVD did not
    converge' or 'Singular matrix' instead)."""
    for name in dict.fromkeys(columns):
        values = data[name].to_numpy(float)
        nan = np.isnan(values)
        if nan.all():
            raise NonFiniteError(f"column '{name}' has no value at all (every row is missing)")
        inf = np.isinf(values)
        if inf.any():
            rows = ", ".join(str(i) for i in data.index[inf][:5])
            raise NonFiniteError(
                f"column '{name}' has {int(inf.sum())} infinite value(s) (rows {rows}); "
                "causal estimators need finite numbers"
            )
        if missing == "raise" and nan.any():
            raise NonFiniteError(
                f"column '{name}' has {int(nan.sum())} missing value(s) and missing='raise'; "
                "drop or impute them, or use missing='drop' (listwise deletion)"
            )
