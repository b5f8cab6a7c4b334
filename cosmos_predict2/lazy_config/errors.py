"""The error type for anything a user can get wrong in a config or on the command line."""

from __future__ import annotations

import difflib
from collections.abc import Iterable


class ConfigError(ValueError):
    """A config / override / layout problem, with what was found and how to fix it."""


def closest(word: str, choices: Iterable[str], n: int = 5) -> list[str]:
    choices = list(choices)
    found = difflib.get_close_matches(word, choices, n=n, cutoff=0.5)
    found += [c for c in choices if word and word in c and c not in found]  # substrings help long names
    if not found:  # nothing similar: still name the nearest few valid choices
        found = difflib.get_close_matches(word, choices, n=n, cutoff=0.0)
    return found[:n]


def did_you_mean(word: str, choices: Iterable[str]) -> str:
    found = closest(word, choices)
    return f" Did you mean: {', '.join(found)}?" if found else ""
