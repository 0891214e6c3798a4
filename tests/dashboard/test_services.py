"""The process-wide services' shared answers: computed once per question, bounded."""

from __future__ import annotations

from dashboard.services import SharedResults


def test_an_answer_is_computed_once_and_the_least_recently_used_go_first():
    shared, computed = SharedResults(size=2), []

    def compute(key):
        computed.append(key)
        return [key]

    first = shared.get("a", lambda: compute("a"))
    assert shared.get("a", lambda: compute("a")) is first and computed == ["a"]
    shared.get("b", lambda: compute("b"))
    shared.get("a", lambda: compute("a"))  # "a" is now the most recently used
    shared.get("c", lambda: compute("c"))  # over the size: "b" goes
    shared.get("a", lambda: compute("a"))
    shared.get("b", lambda: compute("b"))
    assert computed == ["a", "b", "c", "b"]
