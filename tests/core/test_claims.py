"""The claim builder: one metric named once gives the value, ``uses`` and the verdict."""

from __future__ import annotations

import math

import pytest

from topiclab.core.claims import ClaimBuilder, at_least, at_most, below, between, near
from topiclab.core.topic import PROFILES, check_claims

M = {"tsls": 1.01234567, "ols": 1.9, "f": 12.0}


def test_value_uses_and_verdict_come_from_the_metric():
    on = ClaimBuilder(M, expected_in=["standard", "full"]).on
    claim = on("tsls", near(1.0, 0.05), id="t", statement="s", anchor="1 ± 0.05", source="x")
    assert (claim.value, claim.uses, claim.passed) == (1.0123, ["tsls"], True)
    assert claim.expected_in == ["standard", "full"]
    off = on("ols", near(1.0, 0.05), id="o", statement="s", anchor="a", source="x", digits=None)
    assert (off.value, off.passed) == (1.9, False)
    everywhere = on("f", at_least(10), id="f", statement="s", anchor="a", source="x",
                    expected_in=PROFILES, value="12 of 10")  # fmt: skip
    assert (everywhere.value, everywhere.expected_in) == ("12 of 10", list(PROFILES))


def test_tests_keep_their_boundaries():
    assert at_most(1)(1) and not below(1)(1)
    assert between(0.93, 0.97)(0.93) and between(0.93, 0.97)(0.97)
    assert not between(0.93, 0.97)(0.9700001)
    assert not near(1.0, 0.5)(1.5) and near(1.0, 0.5)(1.4)


def test_uses_must_name_the_metric_and_a_nan_metric_fails():
    on = ClaimBuilder(M).on
    with pytest.raises(ValueError, match="must include its metric 'tsls'"):
        on("tsls", below(2), id="t", statement="s", anchor="a", source="x", uses=["ols"])
    m = {**M, "ols": math.nan}
    claim = ClaimBuilder(m).on("tsls", below(2), id="t", statement="s", anchor="a",
                               source="x", uses=["tsls", "ols"])  # fmt: skip
    assert claim.passed
    assert not check_claims([claim], m)[0].passed
