"""Near-miss spellings: `require_grad` for `requires_grad`, `weight_decy` for `weight_decay`."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable


def edit_distance(a: str, b: str) -> int:
    """Insertions, deletions, substitutions and swaps of two neighbours (`gard`/`grad`)."""
    previous2: list[int] = []
    previous = list(range(len(b) + 1))
    for i in range(1, len(a) + 1):
        current = [i] + [0] * len(b)
        for j in range(1, len(b) + 1):
            cost = 0 if a[i - 1] == b[j - 1] else 1
            current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + cost)
            if i > 1 and j > 1 and a[i - 1] == b[j - 2] and a[i - 2] == b[j - 1]:
                current[j] = min(current[j], previous2[j - 2] + 1)
        previous2, previous = previous, current
    return previous[len(b)]


def is_near_miss(word: str, intended: str) -> bool:
    """Whether `word` reads as a slip of the keyboard for `intended` (and is not it).

    Case is ignored (`Requires_Grad` is a miss); names of up to five letters allow one
    slip, longer ones two.
    """
    if word == intended:
        return False
    a, b = _normal(word), _normal(intended)
    if a == b:
        return True
    allowed = 1 if len(b) <= 5 else 2
    if abs(len(a) - len(b)) > allowed or _letter_difference(a, b) > 2 * allowed:
        return False
    return edit_distance(a, b) <= allowed


def closest(word: str, candidates: Iterable[str]) -> str | None:
    """The candidate `word` is a near miss of, nearest first (ties: first given)."""
    best: tuple[int, str] | None = None
    for candidate in candidates:
        if is_near_miss(word, candidate):
            distance = edit_distance(_normal(word), _normal(candidate))
            if best is None or distance < best[0]:
                best = (distance, candidate)
    return best[1] if best else None


def _letter_difference(a: str, b: str) -> int:
    """How many letters the two would have to gain or lose to hold the same ones. An edit
    changes it by two at most (a substitution), so it bounds the edit distance cheaply."""
    counts = Counter(a)
    counts.subtract(b)
    return sum(map(abs, counts.values()))


def _normal(name: str) -> str:
    return name.lower().replace("-", "_")
