"""LazyCall / instantiate semantics."""

import pytest
import torch

from cosmos_predict2.lazy_config import PLACEHOLDER, L, LazyDict, instantiate, locate


class Box:
    def __init__(self, a, b=2, child=None):
        self.a, self.b, self.child = a, b, child


def test_lazycall_records_target_and_kwargs_only():
    node = L(Box)(a=1)
    assert isinstance(node, LazyDict)
    assert node._target_ == f"{__name__}.Box"
    assert set(node.keys()) == {"_target_", "a"}  # signature defaults are not copied


def test_instantiate_is_recursive_and_call_kwargs_win():
    node = L(Box)(a=1, child=L(Box)(a=L(Box)(a=3)))
    obj = instantiate(node, b=5)
    assert isinstance(obj, Box) and obj.b == 5
    assert isinstance(obj.child, Box) and isinstance(obj.child.a, Box) and obj.child.a.a == 3


def test_recursive_false_passes_children_as_configs():
    node = L(Box)(a=L(Box)(a=1), _recursive_=False)
    obj = instantiate(node)
    assert isinstance(obj.a, LazyDict) and obj.a.a == 1


def test_placeholder_filled_at_build_time():
    node = L(torch.optim.SGD)(params=PLACEHOLDER, lr=0.5)
    param = torch.nn.Parameter(torch.zeros(2))
    opt = instantiate(node, params=[param])
    assert isinstance(opt, torch.optim.SGD) and opt.defaults["lr"] == 0.5


def test_dotted_string_targets_and_clear_locate_errors():
    node = L("collections.OrderedDict")(x=1)
    assert dict(instantiate(node)) == {"x": 1}
    assert locate("torch.nn.Linear") is torch.nn.Linear
    with pytest.raises(ImportError, match="no attribute"):
        locate("torch.nn.NotALayer")
    with pytest.raises(ImportError, match="cannot locate"):
        locate("no_such_package_xyz.Thing")


def test_plain_nodes_become_dicts_with_instantiated_children():
    out = instantiate({"x": L(Box)(a=1), "y": [L(Box)(a=2)]})
    assert isinstance(out["x"], Box) and isinstance(out["y"][0], Box)
