"""Cosmos-Tokenize1-CV8x8x8 wrapper: chunking, normalisation and decode checked against an independent float64
computation, with small TorchScript encoder/decoder modules scripted here (layout of the released files)."""

from __future__ import annotations

import os

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F
from omegaconf import OmegaConf

from cosmos_predict2.tokenizers.cosmos_tokenize1 import Cosmos1CVTokenizer

pytestmark = pytest.mark.filterwarnings("ignore:`torch.jit.script` is deprecated:DeprecationWarning")
C = 16
DL_CMD = "hf download nvidia/Cosmos-Tokenize1-CV8x8x8-720p --local-dir"


class CausalEncoder(nn.Module):
    """First frame alone (1x8x8 patch), then groups of 8 frames (8x8x8): T = 1 + 8k -> 1 + k latent frames."""

    def __init__(self):
        super().__init__()
        self.first = nn.Conv3d(3, C, (1, 8, 8), stride=(1, 8, 8))
        self.rest = nn.Conv3d(3, C, (8, 8, 8), stride=(8, 8, 8))

    def latent(self, x: torch.Tensor) -> torch.Tensor:
        z = self.first(x[:, :, :1])
        if x.shape[2] > 1:
            z = torch.cat([z, self.rest(x[:, :, 1:])], dim=2)
        return z

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.latent(x)


class TupleCausalEncoder(CausalEncoder):
    """The released CV encoder returns a tuple whose first item is the latent."""

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.latent(x), torch.zeros(1)


class CausalDecoder(nn.Module):
    """Transpose of the encoder layout: t latent frames -> 1 + 8 (t - 1) frames."""

    def __init__(self):
        super().__init__()
        self.first = nn.ConvTranspose3d(C, 3, (1, 8, 8), stride=(1, 8, 8))
        self.rest = nn.ConvTranspose3d(C, 3, (8, 8, 8), stride=(8, 8, 8))

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        x = self.first(z[:, :, :1])
        if z.shape[2] > 1:
            x = torch.cat([x, self.rest(z[:, :, 1:])], dim=2)
        return x


def write_tokenizer(folder, seed: int = 0, n_latent: int = 16, layout: str = "flat", as_tuple: bool = True):
    """encoder.jit, decoder.jit, mean_std.pt in ``folder``; returns the float64 reference pieces."""
    torch.manual_seed(seed)
    enc, dec = (TupleCausalEncoder() if as_tuple else CausalEncoder()).eval(), CausalDecoder().eval()
    with torch.no_grad():
        dec.first.weight.mul_(20.0)  # decoded values well outside [-1, 1]: decode must not clamp
    os.makedirs(folder, exist_ok=True)
    torch.jit.script(enc).save(os.path.join(folder, "encoder.jit"))
    torch.jit.script(dec).save(os.path.join(folder, "decoder.jit"))
    mean_CN = torch.randn(C, n_latent, dtype=torch.float64)  # per channel x latent frame
    std_CN = torch.rand(C, n_latent, dtype=torch.float64) + 0.5
    shape = {"flat": (C * n_latent,), "5d": (1, C, n_latent, 1, 1)}[layout]
    torch.save((mean_CN.float().reshape(shape), std_CN.float().reshape(shape)), os.path.join(folder, "mean_std.pt"))
    return enc, dec, mean_CN.float().double(), std_CN.float().double()


def ref_encode_chunk(enc: CausalEncoder, x: torch.Tensor) -> torch.Tensor:
    """float64 encoder of one chunk, written with F.conv3d (independent of the scripted module)."""
    w1, b1 = enc.first.weight.double(), enc.first.bias.double()
    w2, b2 = enc.rest.weight.double(), enc.rest.bias.double()
    z = F.conv3d(x[:, :, :1], w1, b1, stride=(1, 8, 8))
    if x.shape[2] > 1:
        z = torch.cat([z, F.conv3d(x[:, :, 1:], w2, b2, stride=(8, 8, 8))], dim=2)
    return z


def ref_decode_chunk(dec: CausalDecoder, z: torch.Tensor) -> torch.Tensor:
    w1, b1 = dec.first.weight.double(), dec.first.bias.double()
    w2, b2 = dec.rest.weight.double(), dec.rest.bias.double()
    x = F.conv_transpose3d(z[:, :, :1], w1, b1, stride=(1, 8, 8))
    if z.shape[2] > 1:
        x = torch.cat([x, F.conv_transpose3d(z[:, :, 1:], w2, b2, stride=(8, 8, 8))], dim=2)
    return x


def ref_encode(enc, mean_CN, std_CN, video, chunk, sigma_data=0.5):
    """Loop over samples and chunks; latent frame j of a chunk uses mean/std column j."""
    video = video.double()
    chunk = 1 if video.shape[2] == 1 else chunk
    out = []
    for b in range(video.shape[0]):
        parts = []
        for s in range(0, video.shape[2], chunk):
            z = ref_encode_chunk(enc, video[b : b + 1, :, s : s + chunk])  # (1, C, lt, h, w)
            lt = z.shape[2]
            m, sd = mean_CN[:, :lt].reshape(1, C, lt, 1, 1), std_CN[:, :lt].reshape(1, C, lt, 1, 1)
            parts.append(sigma_data * (z - m) / sd)
        out.append(torch.cat(parts, dim=2))
    return torch.cat(out, dim=0)


def ref_decode(dec, mean_CN, std_CN, latent, latent_chunk, sigma_data=0.5):
    latent = latent.double()
    latent_chunk = 1 if latent.shape[2] == 1 else latent_chunk
    out = []
    for b in range(latent.shape[0]):
        parts = []
        for s in range(0, latent.shape[2], latent_chunk):
            z = latent[b : b + 1, :, s : s + latent_chunk]
            lt = z.shape[2]
            m, sd = mean_CN[:, :lt].reshape(1, C, lt, 1, 1), std_CN[:, :lt].reshape(1, C, lt, 1, 1)
            parts.append(ref_decode_chunk(dec, z / sigma_data * sd + m))
        out.append(torch.cat(parts, dim=2))
    return torch.cat(out, dim=0)


def video(b, t, h, w, seed=1):
    g = torch.Generator().manual_seed(seed)
    return torch.rand(b, 3, t, h, w, generator=g) * 2 - 1


@pytest.mark.parametrize("layout", ["flat", "5d"])
def test_action_setting_two_frames_each_encoded_as_image(tmp_path, layout):
    enc, dec, mean, std = write_tokenizer(tmp_path, layout=layout)
    tok = Cosmos1CVTokenizer(str(tmp_path), pixel_chunk_duration=1, dtype="float32")
    assert (tok.latent_chunk_duration, tok.temporal_compression_factor) == (1, 1)
    assert tok.get_latent_num_frames(2) == 2 and tok.get_pixel_num_frames(2) == 2
    x = video(1, 2, 256, 320)
    z = tok.encode(x)
    assert z.shape == (1, 16, 2, 32, 40) and z.dtype == torch.float32
    torch.testing.assert_close(z.double(), ref_encode(enc, mean, std, x, 1), rtol=1e-4, atol=1e-4)
    # both frames use latent-frame-0 statistics (chunk of one frame): frame 1 encoded alone == frame 0 position
    torch.testing.assert_close(z[:, :, 1:], tok.encode(x[:, :, 1:]), rtol=0, atol=0)
    y = tok.decode(z)
    assert y.shape == (1, 3, 2, 256, 320)
    torch.testing.assert_close(y.double(), ref_decode(dec, mean, std, z, 1), rtol=1e-4, atol=1e-3)


def test_video_chunks_batch_and_statistics_per_latent_frame(tmp_path):
    enc, dec, mean, std = write_tokenizer(tmp_path, as_tuple=False, layout="5d")
    tok = Cosmos1CVTokenizer(str(tmp_path), pixel_chunk_duration=9, dtype="float32", sigma_data=0.5,
                             max_enc_batch_size=3, max_dec_batch_size=3)  # 2 samples x 2 chunks -> 3 + 1
    assert (tok.latent_chunk_duration, tok.temporal_compression_factor) == (2, 8)
    x = video(2, 18, 16, 24)
    z = tok.encode(x)
    assert z.shape == (2, 16, 4, 2, 3) and tok.get_latent_num_frames(18) == 4
    torch.testing.assert_close(z.double(), ref_encode(enc, mean, std, x, 9), rtol=1e-4, atol=1e-4)
    # the second chunk is normalised like the first (statistics repeated per chunk, not frames 2..3 of the file)
    torch.testing.assert_close(z[:, :, 2:], tok.encode(x[:, :, 9:]), rtol=0, atol=0)
    y = tok.decode(z)
    assert y.shape == (2, 3, 18, 16, 24) and tok.get_pixel_num_frames(4) == 18
    ref = ref_decode(dec, mean, std, z, 2)
    torch.testing.assert_close(y.double(), ref, rtol=1e-4, atol=1e-3)
    assert y.abs().max() > 1.5  # no clamping inside decode


def test_single_frame_and_sigma_data(tmp_path):
    enc, dec, mean, std = write_tokenizer(tmp_path)
    tok = Cosmos1CVTokenizer(str(tmp_path), pixel_chunk_duration=17, dtype="float32", sigma_data=1.0)
    x = video(1, 1, 8, 8)
    z = tok.encode(x)
    assert z.shape == (1, 16, 1, 1, 1) and tok.get_latent_num_frames(1) == 1 and tok.get_pixel_num_frames(1) == 1
    torch.testing.assert_close(z.double(), ref_encode(enc, mean, std, x, 17, sigma_data=1.0), rtol=1e-4, atol=1e-4)
    assert tok.decode(z).shape == (1, 3, 1, 8, 8)
    half = Cosmos1CVTokenizer(str(tmp_path), pixel_chunk_duration=17, dtype="float32")  # upstream sigma_data 0.5
    torch.testing.assert_close(half.encode(x), 0.5 * z)


def test_bfloat16_run_dtype(tmp_path):
    enc, dec, mean, std = write_tokenizer(tmp_path)
    tok = Cosmos1CVTokenizer(str(tmp_path), pixel_chunk_duration=1)
    assert tok.dtype == torch.bfloat16 and next(tok.encoder.parameters()).dtype == torch.bfloat16
    x = video(1, 2, 16, 16)
    z = tok.encode(x)
    assert z.dtype == torch.float32  # the input's dtype
    ref = ref_encode(enc, mean.to(torch.bfloat16).double(), std.to(torch.bfloat16).double(), x, 1)
    assert (z.double() - ref).abs().max() < 0.05 * ref.abs().max()
    assert tok.decode(z.to(torch.bfloat16)).dtype == torch.bfloat16


def test_frame_counts_and_clear_errors(tmp_path):
    write_tokenizer(tmp_path)
    tok = Cosmos1CVTokenizer(str(tmp_path), pixel_chunk_duration=121, dtype="float32")
    assert tok.latent_chunk_duration == 16
    assert tok.get_latent_num_frames(121) == 16 and tok.get_latent_num_frames(242) == 32
    assert tok.get_pixel_num_frames(32) == 242
    with pytest.raises(ValueError, match=r"cannot encode 93 frames; valid frame counts: 1 or a multiple of 121"):
        tok.get_latent_num_frames(93)
    with pytest.raises(ValueError, match=r"cannot decode 17 latent frames.*multiple of 16"):
        tok.get_pixel_num_frames(17)
    small = Cosmos1CVTokenizer(str(tmp_path), pixel_chunk_duration=9, dtype="float32")
    with pytest.raises(ValueError, match=r"cannot encode 10 frames.*\(9, 18, 27"):
        small.encode(video(1, 10, 8, 8))  # never drops the trailing frame
    with pytest.raises(ValueError, match=r"cannot decode 3 latent frames"):
        small.decode(torch.zeros(1, 16, 3, 1, 1))
    with pytest.raises(ValueError, match=r"pixel_chunk_duration=4 must be 1 \+ k\*8"):
        Cosmos1CVTokenizer(str(tmp_path), pixel_chunk_duration=4, dtype="float32")
    with pytest.raises(ValueError, match=r"multiples of 8"):
        small.encode(video(1, 9, 12, 8))


def test_missing_files_and_float16_on_cpu(tmp_path):
    missing = tmp_path / "nowhere"
    with pytest.raises(FileNotFoundError) as err:
        Cosmos1CVTokenizer(str(missing), pixel_chunk_duration=1)
    msg = str(err.value)
    assert "\n" not in msg and "encoder.jit" in msg and f"{DL_CMD} {missing}" in msg
    write_tokenizer(tmp_path)
    os.remove(tmp_path / "mean_std.pt")
    with pytest.raises(FileNotFoundError, match=r"mean_std\.pt.*hf download nvidia/Cosmos-Tokenize1-CV8x8x8-720p"):
        Cosmos1CVTokenizer(str(tmp_path), pixel_chunk_duration=1)
    write_tokenizer(tmp_path)
    with pytest.raises(ValueError, match="float16 is not supported on CPU"):
        Cosmos1CVTokenizer(str(tmp_path), pixel_chunk_duration=1, dtype="float16")
    with pytest.raises(ValueError, match="float16 is not supported on CPU"):
        Cosmos1CVTokenizer(str(tmp_path), pixel_chunk_duration=1, dtype=torch.float16)


def test_bad_mean_std_file(tmp_path):
    write_tokenizer(tmp_path, n_latent=1)  # one latent frame of statistics, a 17-frame chunk needs 3
    with pytest.raises(ValueError, match=r"need latent_ch=16 x at least latent_chunk_duration=3"):
        Cosmos1CVTokenizer(str(tmp_path), pixel_chunk_duration=17, dtype="float32")
    torch.save({"mean": torch.zeros(16)}, tmp_path / "mean_std.pt")
    with pytest.raises(ValueError, match=r"pair \(mean, std\)"):
        Cosmos1CVTokenizer(str(tmp_path), pixel_chunk_duration=1, dtype="float32")


def test_config_node_builds_and_preflight(tmp_path):
    from hydra.core.config_store import ConfigStore

    from cosmos_predict2.configs.base.defaults.tokenizer import P1_ACTION_PIXEL_CHUNK, cosmos1_cv8x8x8
    from cosmos_predict2.configs.compose import DEFAULT_CONFIG_FILE, load_config_module
    from cosmos_predict2.configs.registry import registered_options
    from cosmos_predict2.lazy_config import instantiate
    from cosmos_predict2.trainer.memory_plan import _tokenizer_bytes
    from cosmos_predict2.configs.preflight import tokenizer_findings

    load_config_module(DEFAULT_CONFIG_FILE)()
    assert "cosmos_diffusion_tokenizer_comp8x8x8" in registered_options("tokenizer")
    stored = ConfigStore.instance().load("tokenizer/cosmos_diffusion_tokenizer_comp8x8x8.yaml").node
    assert stored.pixel_chunk_duration == 121
    assert stored.tokenizer_dir == "checkpoints/nvidia/Cosmos-Tokenize1-CV8x8x8-720p"

    folder = tmp_path / "nvidia" / "Cosmos-Tokenize1-CV8x8x8-720p"
    node = OmegaConf.merge(stored, {"tokenizer_dir": str(folder), "dtype": "float32"})
    config = OmegaConf.create({"model": {"config": {"tokenizer": node}}})
    (finding,) = tokenizer_findings(config)  # folder missing: one finding with the download command
    assert finding.key == "model.config.tokenizer.tokenizer_dir" and finding.fix == f"{DL_CMD} {folder}"
    assert _tokenizer_bytes(node) == 0

    write_tokenizer(folder)
    assert tokenizer_findings(config) == []
    assert _tokenizer_bytes(node) == os.path.getsize(folder / "encoder.jit") + os.path.getsize(folder / "decoder.jit")
    tok = instantiate(node)
    assert isinstance(tok, Cosmos1CVTokenizer) and tok.pixel_chunk_duration == 121 and tok.sigma_data == 0.5

    action = cosmos1_cv8x8x8(P1_ACTION_PIXEL_CHUNK, tokenizer_dir=str(folder))
    tok = instantiate(action)
    assert tok.dtype == torch.bfloat16 and tok.get_latent_num_frames(2) == 2
    assert tok.encode(video(1, 2, 256, 320)).shape == (1, 16, 2, 32, 40)

    os.remove(folder / "encoder.jit")
    (finding,) = tokenizer_findings(OmegaConf.create({"model": {"config": {"tokenizer": action}}}))
    assert finding.key == "model.config.tokenizer.encoder_file" and finding.path.endswith("encoder.jit")
    assert finding.fix == f"{DL_CMD} {folder}"


def test_download_plan_and_command():
    from cosmos_predict2.checkpoint.download import download_command, plan_downloads

    repos = {i.repo_id: i for i in plan_downloads(["7B"], ["Predict1-Video2World"], include_t5=False)}
    item = repos["nvidia/Cosmos-Tokenize1-CV8x8x8-720p"]
    assert set(item.allow_patterns) == {"encoder.jit", "decoder.jit", "mean_std.pt"}
    assert item.local_dir == "checkpoints/nvidia/Cosmos-Tokenize1-CV8x8x8-720p"
    assert download_command("checkpoints/nvidia/Cosmos-Tokenize1-CV8x8x8-720p/encoder.jit") == (
        "hf download nvidia/Cosmos-Tokenize1-CV8x8x8-720p encoder.jit "
        "--local-dir checkpoints/nvidia/Cosmos-Tokenize1-CV8x8x8-720p")
