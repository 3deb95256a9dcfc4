"""Words for messages: counts in the right number, metrics at a readable precision."""

from __future__ import annotations

from conceptstore.events import describe_event
from core.text import metric, plural


def test_plural() -> None:
    assert [plural(n, "concept") for n in (0, 1, 2)] == ["0 concepts", "1 concept", "2 concepts"]
    assert plural(1, "patch", "patches") == "1 patch" and plural(3, "patch", "patches") == "3 patches"


def test_metric() -> None:
    assert metric(0.41187393856048584) == "0.412" and metric(0.5, 4) == "0.5000" and metric(None) == "n/a"


def test_event_summaries_count_in_the_right_number() -> None:
    one = {"op": "promote", "args": {"name": "ear", "id": "c1", "positives": [["k", 0, 0]]}, "unticked": 1}
    assert describe_event(one) == "promoted 'ear' (c1): 1 position, 1 unticked"
    two = {"op": "add", "args": {"id": "c1", "positives": [["k", 0, 0], ["k", 0, 1]]}}
    assert describe_event(two) == "added 2 positions to c1"
