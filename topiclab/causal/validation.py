"""One-line errors for bad causal inputs, and the checks that raise them.

Every error names the offending column, node or role, so the CLI can print it as one line::

    >>> check_numeric(df, ["educ", "name"])
    NonNumericColumnError: column 'name' has dtype object; causal estimators need numbers ...
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

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
