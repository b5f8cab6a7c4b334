"""The one exception type raised for bad dataset input."""

from __future__ import annotations

import os


class DataError(ValueError):
    """Bad dataset input: names the offending file and what is wrong with it.

    Derives from ValueError so callers that catch ValueError keep working.
    Attributes ``path`` and ``problem`` hold the two parts of the message.
    """

    def __init__(self, path: str | os.PathLike | None, problem: str, fix: str | None = None):
        self.path = str(path) if path is not None else None
        self.problem = problem
        self.fix = fix
        where = f"{self.path}: " if self.path else ""
        msg = f"{where}{problem}"
        if fix:
            msg += f" (fix: {fix})"
        super().__init__(msg)


class UnsafePickleError(DataError):
    """A pickle file asked to import or call something outside the allowed set."""
