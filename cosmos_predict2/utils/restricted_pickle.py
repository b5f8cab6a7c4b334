"""Unpickling that never runs code: every global a pickle names must be on an allow-list.

A pickle can only call what it imports (``find_class``); refusing every name outside the list refuses
``os.system``, ``builtins.eval``, ``subprocess.Popen`` and any other payload before it is ever called.
Plain types (int, float, str, bytes, list, tuple, dict, set, None, bool) need no import and always load.
"""

from __future__ import annotations

import _compat_pickle
import io
import pickle
from typing import Callable, Iterable

# builtins a plain-container pickle may name (protocol 2 names them; later protocols use opcodes)
PLAIN_CONTAINERS = frozenset({
    ("builtins", "list"), ("builtins", "tuple"), ("builtins", "dict"), ("builtins", "set"),
    ("builtins", "frozenset"), ("builtins", "bytearray"), ("builtins", "complex"), ("builtins", "slice"),
    ("collections", "OrderedDict"),
    ("_codecs", "encode"),  # how protocol-2 pickles store bytes
})


class RefusedGlobal(pickle.UnpicklingError):
    """The pickle names ``module.name``, which is not on the allow-list."""

    def __init__(self, module: str, name: str) -> None:
        self.module, self.name = module, name
        super().__init__(f"pickle refers to '{module}.{name}', which is not allowed")


def _canonical(module: str, name: str) -> tuple[str, str]:
    """Python 2 / protocol <= 2 names (``__builtin__``, ``copy_reg``) as Python 3 spells them."""
    if (module, name) in _compat_pickle.NAME_MAPPING:
        return _compat_pickle.NAME_MAPPING[(module, name)]
    return _compat_pickle.IMPORT_MAPPING.get(module, module), name


class RestrictedUnpickler(pickle.Unpickler):
    """An unpickler that imports only ``(module, name)`` pairs in ``allowed`` or accepted by ``accept``."""

    def __init__(self, file, allowed: Iterable[tuple[str, str]] = (),
                 accept: Callable[[str, str], bool] | None = None) -> None:
        super().__init__(file)
        self._allowed = frozenset(allowed) | PLAIN_CONTAINERS
        self._accept = accept

    def find_class(self, module: str, name: str):
        module, name = _canonical(module, name)
        if (module, name) in self._allowed or (self._accept is not None and self._accept(module, name)):
            return super().find_class(module, name)
        raise RefusedGlobal(module, name)

    def persistent_load(self, pid):  # a torch.save zip's tensor storages: never expected here
        raise pickle.UnpicklingError("pickle uses persistent ids (a torch.save file?), which are not allowed")


def restricted_loads(data: bytes, allowed: Iterable[tuple[str, str]] = (),
                     accept: Callable[[str, str], bool] | None = None):
    """Unpickle ``data`` with :class:`RestrictedUnpickler`. Raises :class:`RefusedGlobal` for a refused name."""
    return RestrictedUnpickler(io.BytesIO(data), allowed, accept).load()
