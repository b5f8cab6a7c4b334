"""Optional LPIPS / FVD plumbing: local-only loading, Frechet distance against its closed form."""

import numpy as np
import pytest
import torch

from cosmos_predict2.evaluation.evaluate import evaluate
from cosmos_predict2.evaluation.episodes import EvalEpisode
from cosmos_predict2.evaluation.optional_metrics import frechet_distance, load_i3d, load_lpips


class _AbsDiff(torch.nn.Module):
    """A stand-in perceptual distance saved as TorchScript (what --lpips-path loads)."""

    def forward(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        return (a - b).abs().mean(dim=(1, 2, 3))


class _PoolFeatures(torch.nn.Module):
    """A stand-in clip encoder with the I3D TorchScript call signature (what --i3d-path loads)."""

    def forward(self, x: torch.Tensor, rescale: bool = False, resize: bool = True,
                return_features: bool = True) -> torch.Tensor:
        return torch.cat([x.mean(dim=(2, 3, 4)), x.std(dim=(2, 3, 4))], dim=1)


def test_frechet_distance_matches_reference_and_population_closed_form():
    rng = np.random.default_rng(0)
    a = rng.normal(0, 1, (4000, 3)) * [1.0, 2.0, 0.5] + [0, 1, 2]
    b = rng.normal(0, 1, (4000, 3)) * [3.0, 1.0, 0.5] + [1, 1, 0]
    ca, cb = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    # independent reference: tr sqrtm(C_a C_b) = sum of sqrt(eigenvalues of C_a C_b) (estimated covariances)
    ev = np.linalg.eigvals(ca @ cb)
    ref = ((a.mean(0) - b.mean(0)) ** 2).sum() + np.trace(ca + cb) - 2 * np.sqrt(ev.real.clip(0)).sum()
    assert frechet_distance(a, b) == pytest.approx(ref, rel=1e-9)
    assert frechet_distance(a, b) == pytest.approx(1 + 4 + 0 + (1 - 3) ** 2 + (2 - 1) ** 2, rel=0.05)
    assert frechet_distance(a, a) == pytest.approx(0.0, abs=1e-8)
    with pytest.raises(ValueError):
        frechet_distance(a[:1], b)


def test_missing_networks_are_skipped_with_one_line(tmp_path, capsys):
    assert load_i3d(None) is None
    assert load_i3d(str(tmp_path / "i3d.pt")) is None
    assert load_lpips(str(tmp_path / "lpips.pt")) is None
    out = capsys.readouterr().out.strip().splitlines()
    assert len(out) == 3 and all("skipped" in line for line in out)


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_local_torchscript_networks_add_lpips_and_fvd(tmp_path):
    torch.jit.script(_AbsDiff()).save(str(tmp_path / "lpips.pt"))
    torch.jit.script(_PoolFeatures()).save(str(tmp_path / "i3d.pt"))
    lp, i3d = load_lpips(str(tmp_path / "lpips.pt")), load_i3d(str(tmp_path / "i3d.pt"))
    rng = np.random.default_rng(0)
    eps = [EvalEpisode(f"e{i}", rng.integers(0, 256, (6, 16, 16, 3), dtype=np.uint8), np.zeros((5, 7)))
           for i in range(3)]
    s = evaluate(None, eps, protocols=("long",), methods=("copy_last_frame",), lpips_net=lp, i3d=i3d,
                 progress=False, print_table=False)["protocols"]["long"]["copy_last_frame"]
    manual = np.mean([np.abs(e.frames[0:1].astype(float) - e.frames[1:]).mean() / 127.5 for e in eps])
    assert s["lpips"] == pytest.approx(manual, rel=1e-5)
    assert s["fvd"] > 0
