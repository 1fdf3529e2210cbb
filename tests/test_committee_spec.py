"""The YAML `committees:` block: a bad block is a clear error naming the path and line."""

from __future__ import annotations

import pytest

from concilium.errors import SpecError
from concilium.spec import load_spec
from tests.conftest import ROOT, spec_from

EXAMPLE = (ROOT / "examples" / "committee.yaml").read_text()


def test_the_example_committee_loads():
    c = load_spec(ROOT / "examples" / "committee.yaml").committee("treasury-council")
    assert c.threshold == 3 and len(c.members) == 4 and c.safe == "deploy" and c.schedule == 30.0
    assert c.onchain_limits.day_limits() == {"ETH": 10.0} and c.onchain_limits.recipients == ["hot_wallet"]


@pytest.mark.parametrize("old,new,needle", [
    ("threshold: 3", "threshold: 2", "threshold 2 of 4 lets two disjoint groups both agree"),
    ("threshold: 3", "threshold: 5", "threshold 5 is more than the 4 members"),
    ("key: m4", "key: m3", "members share a key: m3"),
    ('url: "http://127.0.0.1:9104"', 'url: "http://127.0.0.1:9103"', "members share a url"),
    ('url: "http://127.0.0.1:9104"', 'url: "127.0.0.1:9104"', "expected an http(s):// URL"),
    ("model: local, url: \"http://127.0.0.1:9104\"", "model: big, url: \"http://127.0.0.1:9104\"", "members[3].model (line 4"),
    ("safe: deploy", "safe: 0x12", 'expected "deploy" or a Safe'),
    ("agent: treasury-keeper\n    members", "agent: nobody\n    members", "unknown agent 'nobody'"),
    ("ETH: {per_day: 10}", "usdc: {per_day: 10}", "onchain_limits.usdc (line"),
    ("ETH: {per_day: 10}", "ETH: {per_day: -1}", "greater than or equal to 0"),
    ("recipients: [hot_wallet]     #", "recipients: [nobody]     #", "unknown address 'nobody'"),
    ("phase_timeout: 5s", "phase_timeout: 20s", "phase_timeout x 3 must fit in one schedule slot"),
])
def test_a_bad_committee_block_is_one_clear_error(old, new, needle):
    assert old in EXAMPLE
    with pytest.raises(SpecError) as e:
        spec_from(EXAMPLE.replace(old, new, 1))
    assert needle in str(e.value), str(e.value)
