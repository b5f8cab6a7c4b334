"""A dataset output folder written atomically: everything goes into ``<root>.tmp`` and is renamed to ``<root>``
only when complete, so an interrupted write never leaves a half-written dataset at ``root``.

A ``root`` that exists and is not empty is refused (a one-line :class:`~cosmos_predict2.data.errors.DataError`);
a leftover ``<root>.tmp`` of an interrupted run is replaced.
"""

from __future__ import annotations

import contextlib
import os
import shutil
from typing import Iterator

from cosmos_predict2.data.errors import DataError

__all__ = ["check_output", "begin_output", "commit_output", "discard_output", "staged_output"]


def check_output(root: str) -> None:
    """A one-line DataError when ``root`` exists and is not an empty folder."""
    root = os.path.normpath(str(root))
    if os.path.exists(root) and (not os.path.isdir(root) or os.listdir(root)):
        raise DataError(root, "output folder exists and is not empty", "choose a new folder or delete this one")


def begin_output(root: str) -> str:
    """Check ``root`` is free and return a fresh, empty staging folder ``<root>.tmp``."""
    check_output(root)
    tmp = os.path.normpath(str(root)) + ".tmp"
    if os.path.isdir(tmp):
        shutil.rmtree(tmp)
    elif os.path.exists(tmp):
        os.remove(tmp)
    os.makedirs(tmp)
    return tmp


def commit_output(tmp: str, root: str) -> None:
    """Move the finished staging folder to ``root`` (an empty ``root`` folder is replaced)."""
    root = os.path.normpath(str(root))
    if os.path.isdir(root) and not os.listdir(root):
        os.rmdir(root)
    os.replace(tmp, root)


def discard_output(tmp: str) -> None:
    """Remove a staging folder (after a failure)."""
    shutil.rmtree(tmp, ignore_errors=True)


@contextlib.contextmanager
def staged_output(root: str) -> Iterator[str]:
    """``with staged_output(root) as tmp:`` write into ``tmp``; it becomes ``root`` when the block succeeds and is
    removed when it raises."""
    tmp = begin_output(root)
    try:
        yield tmp
    except BaseException:
        discard_output(tmp)
        raise
    commit_output(tmp, root)
