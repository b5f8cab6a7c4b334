"""Wan2.1 VAE: checkpoint key layout, key map, float32 parity with diffusers AutoencoderKLWan, tokenizer API."""

import importlib.util

import pytest
import torch

from cosmos_predict2.tokenizers.wan2pt1 import (
    WAN2PT1_LATENT_MEAN,
    WAN2PT1_LATENT_STD,
    Wan2pt1VAETokenizer,
    WanVAE,
)
from cosmos_predict2.tokenizers.wan2pt1_key_map import (
    diffusers_key_to_wan,
    diffusers_to_wan_state_dict,
    diffusers_vae_config,
    to_diffusers_autoencoder,
    wan_key_to_diffusers,
    wan_to_diffusers_state_dict,
)

TINY = dict(base_dim=8, z_dim=4, dim_mult=(1, 2), num_res_blocks=1, temperal_downsample=(True,))
# Same depth/geometry as Wan2.1 (8x spatial, 4x temporal) with narrow widths.
TINY_WAN_GEOMETRY = dict(base_dim=8, z_dim=4, dim_mult=(1, 2, 2, 2), num_res_blocks=1,
                         temperal_downsample=(False, True, True))  # fmt: skip
REAL = dict(base_dim=96, z_dim=16, dim_mult=(1, 2, 4, 4), num_res_blocks=2, temperal_downsample=(False, True, True))


def _randomize(model: torch.nn.Module, seed: int = 0) -> None:
    """Random but well-scaled weights: default init for kernels, random gammas/biases, non-zero attention."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith("gamma"):
                p.copy_(1.0 + 0.2 * torch.randn(p.shape, generator=gen))
            elif name.endswith("bias"):
                p.copy_(0.05 * torch.randn(p.shape, generator=gen))
            else:
                fan_in = p[0].numel()
                p.copy_(torch.randn(p.shape, generator=gen) * (1.0 / fan_in) ** 0.5)


def _ours_and_diffusers(cfg: dict, seed: int = 0):
    pytest.importorskip("diffusers", reason="diffusers (optional, in the test extra) is the independent reference here")
    ours = WanVAE(cfg["base_dim"], cfg["z_dim"], cfg["dim_mult"], cfg["num_res_blocks"], cfg["temperal_downsample"])
    _randomize(ours, seed)
    return ours.eval(), to_diffusers_autoencoder(ours)


def _rel(a: torch.Tensor, b: torch.Tensor) -> float:
    return ((a - b).norm() / b.norm()).item()


def test_real_config_has_released_checkpoint_layout():
    sd = WanVAE(**{k if k != "base_dim" else "dim": v for k, v in REAL.items()}).state_dict()
    n_params = sum(v.numel() for v in sd.values())
    assert 126_800_000 < n_params < 127_000_000  # 126.9 M, as diffusers' default AutoencoderKLWan
    expected_shapes = {
        "conv1.weight": (32, 32, 1, 1, 1),
        "conv2.weight": (16, 16, 1, 1, 1),
        "encoder.conv1.weight": (96, 3, 3, 3, 3),
        "encoder.downsamples.0.residual.0.gamma": (96, 1, 1, 1),
        "encoder.downsamples.2.resample.1.weight": (96, 96, 3, 3),  # downsample2d, no time_conv
        "encoder.downsamples.3.shortcut.weight": (192, 96, 1, 1, 1),
        "encoder.downsamples.5.time_conv.weight": (192, 192, 3, 1, 1),
        "encoder.downsamples.10.residual.6.weight": (384, 384, 3, 3, 3),
        "encoder.middle.1.norm.gamma": (384, 1, 1),
        "encoder.middle.1.to_qkv.weight": (1152, 384, 1, 1),
        "encoder.head.2.weight": (32, 384, 3, 3, 3),
        "decoder.conv1.weight": (384, 16, 3, 3, 3),
        "decoder.upsamples.3.time_conv.weight": (768, 384, 3, 1, 1),
        "decoder.upsamples.3.resample.1.weight": (192, 384, 3, 3),
        "decoder.upsamples.4.shortcut.weight": (384, 192, 1, 1, 1),
        "decoder.upsamples.7.time_conv.weight": (768, 384, 3, 1, 1),
        "decoder.upsamples.11.resample.1.weight": (96, 192, 3, 3),
        "decoder.upsamples.14.residual.2.weight": (96, 96, 3, 3, 3),
        "decoder.head.2.weight": (3, 96, 3, 3, 3),
    }
    for key, shape in expected_shapes.items():
        assert tuple(sd[key].shape) == shape, key
    assert "encoder.downsamples.2.time_conv.weight" not in sd
    assert "decoder.upsamples.11.time_conv.weight" not in sd
    assert "decoder.upsamples.15.residual.0.gamma" not in sd


@pytest.mark.parametrize("cfg", [TINY, TINY_WAN_GEOMETRY, REAL], ids=["tiny", "tiny_wan_geometry", "real"])
def test_key_map_matches_diffusers_and_round_trips(cfg):
    diffusers = pytest.importorskip("diffusers", reason="diffusers (optional, in the test extra) is the independent reference here")
    ours = WanVAE(cfg["base_dim"], cfg["z_dim"], cfg["dim_mult"], cfg["num_res_blocks"], cfg["temperal_downsample"])
    ref_keys = set(diffusers.AutoencoderKLWan(**diffusers_vae_config(**cfg)).state_dict())
    ours_sd = ours.state_dict()
    assert set(wan_to_diffusers_state_dict(ours_sd)) == ref_keys
    assert set(diffusers_to_wan_state_dict(dict.fromkeys(ref_keys))) == set(ours_sd)
    for key in ours_sd:
        assert diffusers_key_to_wan(wan_key_to_diffusers(key, cfg["num_res_blocks"]), cfg["num_res_blocks"]) == key


def test_key_map_agrees_with_diffusers_conversion_table():
    # Entries of diffusers' scripts/convert_wan_to_diffusers.py (convert_vae), Wan2.1 config.
    table = {
        "encoder.middle.1.to_qkv.weight": "encoder.mid_block.attentions.0.to_qkv.weight",
        "decoder.middle.2.residual.3.gamma": "decoder.mid_block.resnets.1.norm2.gamma",
        "encoder.head.0.gamma": "encoder.norm_out.gamma",
        "decoder.head.2.bias": "decoder.conv_out.bias",
        "conv1.weight": "quant_conv.weight",
        "conv2.bias": "post_quant_conv.bias",
        "encoder.downsamples.3.shortcut.weight": "encoder.down_blocks.3.conv_shortcut.weight",
        "decoder.upsamples.4.shortcut.weight": "decoder.up_blocks.1.resnets.0.conv_shortcut.weight",
        "decoder.upsamples.9.residual.6.weight": "decoder.up_blocks.2.resnets.1.conv2.weight",
        "decoder.upsamples.7.time_conv.bias": "decoder.up_blocks.1.upsamplers.0.time_conv.bias",
        "decoder.upsamples.11.resample.1.weight": "decoder.up_blocks.2.upsamplers.0.resample.1.weight",
        "decoder.upsamples.14.residual.0.gamma": "decoder.up_blocks.3.resnets.2.norm1.gamma",
    }
    for wan_key, diffusers_key in table.items():
        assert wan_key_to_diffusers(wan_key) == diffusers_key
        assert diffusers_key_to_wan(diffusers_key) == wan_key


@pytest.mark.parametrize(
    "cfg,shape",
    [(TINY, (2, 3, 9, 16, 16)), (TINY_WAN_GEOMETRY, (1, 3, 9, 32, 32)), (REAL, (1, 3, 5, 32, 32))],
    ids=["tiny", "tiny_wan_geometry", "real_dim96"],
)
def test_float32_parity_with_diffusers(cfg, shape):
    torch.manual_seed(1)
    ours, ref = _ours_and_diffusers(cfg)
    video = torch.rand(shape) * 2 - 1
    with torch.no_grad():
        mu = ours.encode_mu(video)
        mu_ref = ref.encode(video).latent_dist.mean  # diffusers: un-normalised posterior mean
        assert mu.shape == mu_ref.shape
        assert _rel(mu, mu_ref) < 1e-5
        z = torch.randn_like(mu)
        out, out_ref = ours.decode(z), ref.decode(z).sample  # diffusers clamps to [-1, 1]; ours does not
    assert out.shape == out_ref.shape == (shape[0], 3, video.shape[2], shape[3], shape[4])
    assert (out.abs() < 0.999).float().mean() > 0.3  # comparison is not dominated by clamping
    assert _rel(out.clamp(-1, 1), out_ref) < 1e-5
    assert _rel(out, _diffusers_decode_unclamped(ref, z)) < 1e-5


def _diffusers_decode_unclamped(ref, z: torch.Tensor) -> torch.Tensor:
    """diffusers AutoencoderKLWan decode (post_quant_conv, then its decoder one latent frame at a time with its
    feature cache) without the final clamp it applies: an independent reference for our unclamped decode."""
    ref.clear_cache()
    x = ref.post_quant_conv(z)
    frames = []
    for i in range(x.shape[2]):
        ref._conv_idx = [0]
        frames.append(ref.decoder(x[:, :, i : i + 1], feat_cache=ref._feat_map, feat_idx=ref._conv_idx,
                                  first_chunk=i == 0))
    ref.clear_cache()
    return torch.cat(frames, dim=2)


def test_decode_is_not_clamped_like_upstream():
    """Upstream's VAE decode does not clamp (its pipelines clamp afterwards): values outside [-1, 1] that the
    decoder produces reach the caller unchanged, and equal diffusers' decoder without its clamp."""
    torch.manual_seed(11)
    cfg = TINY_WAN_GEOMETRY
    ours = WanVAE(cfg["base_dim"], cfg["z_dim"], cfg["dim_mult"], cfg["num_res_blocks"], cfg["temperal_downsample"])
    _randomize(ours, 12)
    with torch.no_grad():
        ours.decoder.head[2].weight.mul_(20.0)  # push the decoder's output well outside [-1, 1]
    ours.eval()
    z = torch.randn(1, 4, 3, 4, 4)
    with torch.no_grad():
        out = ours.decode(z)
    assert out.shape == (1, 3, 9, 32, 32)
    assert out.abs().max() > 2.0 and (out.abs() > 1.0).float().mean() > 0.1  # not clamped
    if importlib.util.find_spec("diffusers") is not None:
        ref = to_diffusers_autoencoder(ours)
        with torch.no_grad():
            assert _rel(out, _diffusers_decode_unclamped(ref, z)) < 1e-5
            assert _rel(out.clamp(-1, 1), ref.decode(z).sample) < 1e-5  # diffusers' own decode clamps
    # the tokenizer passes the unclamped values through (after un-normalising the latents)
    tok = Wan2pt1VAETokenizer(dtype="float32", load_weights=False, **TINY_WAN_GEOMETRY,
                              latent_mean=[0.5, -0.25, 0.0, 1.0], latent_std=[2.0, 1.0, 0.5, 1.5])
    tok.model.load_state_dict(ours.state_dict())
    latent = torch.randn(1, 4, 3, 4, 4)
    with torch.no_grad():
        expected = ours.decode(latent * tok.latent_std + tok.latent_mean)
    decoded = tok.decode(latent)
    assert decoded.abs().max() > 1.0
    assert _rel(decoded, expected) < 1e-6
    # pixels are made by clamping afterwards
    from cosmos_predict2.tokenizers.common import video_to_uint8

    pixels = video_to_uint8(decoded)
    assert torch.equal(pixels, ((decoded.clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8))


@pytest.mark.parametrize("frames", [2, 6, 7, 8, 12])
def test_frame_count_that_cannot_be_compressed_is_a_clear_error(frames):
    """T must be 1 + 4k: other counts raise (upstream encodes the leftover frames, or fails inside a conv)
    instead of silently dropping the trailing frames."""
    tok = Wan2pt1VAETokenizer(dtype="float32", load_weights=False, **TINY_WAN_GEOMETRY)
    lower = 1 + 4 * ((frames - 1) // 4)
    pattern = rf"{frames} frames.*T = 1 \+ 4k.*Nearest valid frame counts: {lower} or {lower + 4}"
    with pytest.raises(ValueError, match=pattern):
        tok.encode(torch.zeros(1, 3, frames, 16, 16))
    with pytest.raises(ValueError, match=pattern):
        tok.model.encode_mu(torch.zeros(1, 3, frames, 16, 16))
    # every frame its own image (Predict1 action setting): any count is fine
    per_frame = Wan2pt1VAETokenizer(dtype="float32", load_weights=False, encode_frames_independently=True,
                                    **TINY_WAN_GEOMETRY)  # fmt: skip
    assert per_frame.encode(torch.zeros(1, 3, frames, 16, 16)).shape == (1, 4, frames, 2, 2)


def test_valid_frame_counts_are_unchanged():
    """1 + 4k frames: the latents are what encoding each 4-frame group after the first frame gives, whatever the
    window (4, or 16 as upstream's video pipelines), and match diffusers."""
    tok = Wan2pt1VAETokenizer(dtype="float32", load_weights=False, **TINY_WAN_GEOMETRY)
    _randomize(tok.model, 13)
    tok16 = Wan2pt1VAETokenizer(dtype="float32", load_weights=False, temporal_window=16, **TINY_WAN_GEOMETRY)
    tok16.model.load_state_dict(tok.model.state_dict())
    torch.manual_seed(14)
    for frames in (1, 5, 9, 13):
        video = torch.rand(1, 3, frames, 16, 16) * 2 - 1
        latent = tok.encode(video)
        assert latent.shape == (1, 4, 1 + (frames - 1) // 4, 2, 2)
        assert _rel(tok16.encode(video), latent) < 1e-6
        if frames > 1:  # causal: the prefix clip gives the same leading latents
            assert _rel(tok.encode(video[:, :, : frames - 4]), latent[:, :, :-1]) < 1e-6
    if importlib.util.find_spec("diffusers") is not None:
        ref = to_diffusers_autoencoder(tok.model)
        video = torch.rand(1, 3, 13, 16, 16) * 2 - 1
        with torch.no_grad():
            assert _rel(tok.model.encode_mu(video), ref.encode(video).latent_dist.mean) < 1e-5


def test_tokenizer_normalisation_matches_diffusers_convention():
    """Our encode == (diffusers mu - latents_mean) / latents_std; our decode(z) == diffusers decode(z*std+mean)."""
    torch.manual_seed(2)
    tok = Wan2pt1VAETokenizer(dtype="float32", load_weights=False, z_dim=16, base_dim=8, dim_mult=(1, 2, 2, 2),
                              num_res_blocks=1, temperal_downsample=(False, True, True))  # fmt: skip
    _randomize(tok.model, 3)
    diffusers = pytest.importorskip("diffusers", reason="diffusers (optional, in the test extra) is the independent reference here")
    ref = diffusers.AutoencoderKLWan(**diffusers_vae_config(8, 16, (1, 2, 2, 2), 1, (False, True, True))).eval()
    ref.load_state_dict(wan_to_diffusers_state_dict(tok.model.state_dict()))
    mean = torch.tensor(ref.config.latents_mean).view(1, 16, 1, 1, 1)
    std = torch.tensor(ref.config.latents_std).view(1, 16, 1, 1, 1)
    assert ref.config.latents_mean == WAN2PT1_LATENT_MEAN and ref.config.latents_std == WAN2PT1_LATENT_STD
    video = torch.rand(1, 3, 5, 16, 16) * 2 - 1
    with torch.no_grad():
        latent = tok.encode(video)
        assert _rel(latent, (ref.encode(video).latent_dist.mean - mean) / std) < 1e-5
        out, out_ref = tok.decode(latent), ref.decode(latent * std + mean).sample  # diffusers clamps
    assert _rel(out.clamp(-1, 1), out_ref) < 1e-5


def test_tokenizer_interface_geometry_and_frame_rule():
    tok = Wan2pt1VAETokenizer(dtype="float32", load_weights=False, **TINY_WAN_GEOMETRY)
    assert (tok.latent_ch, tok.temporal_compression_factor, tok.spatial_compression_factor) == (4, 4, 8)
    for t_pix, t_lat in [(1, 1), (5, 2), (13, 4), (45, 12), (61, 16), (93, 24)]:
        assert tok.get_latent_num_frames(t_pix) == t_lat
        assert tok.get_pixel_num_frames(t_lat) == t_pix
    for t_pix in (1, 5, 9):
        latent = tok.encode(torch.zeros(2, 3, t_pix, 16, 24))
        assert latent.shape == (2, 4, tok.get_latent_num_frames(t_pix), 2, 3)
        video = tok.decode(latent)
        assert video.shape == (2, 3, t_pix, 16, 24)
    with pytest.raises(ValueError, match="8 frames"):  # no silently dropped trailing frames
        tok.encode(torch.zeros(2, 3, 8, 16, 24))
    real = Wan2pt1VAETokenizer(dtype="float32", load_weights=False)
    assert (real.latent_ch, real.temporal_compression_factor, real.spatial_compression_factor) == (16, 4, 8)
    with pytest.raises(ValueError, match="multiples of 8"):
        tok.encode(torch.zeros(1, 3, 5, 12, 16))
    with pytest.raises(ValueError, match="float16"):
        Wan2pt1VAETokenizer(dtype=torch.float16, load_weights=False, **TINY)


def test_encoding_is_causal_and_window_independent():
    tok = Wan2pt1VAETokenizer(dtype="float32", load_weights=False, **TINY_WAN_GEOMETRY)
    _randomize(tok.model, 4)
    torch.manual_seed(5)
    video = torch.rand(1, 3, 9, 16, 16) * 2 - 1
    latent = tok.encode(video)
    edited = video.clone()
    edited[:, :, 5:] = -video[:, :, 5:]
    latent_edited = tok.encode(edited)
    assert torch.equal(latent[:, :, :2], latent_edited[:, :, :2])  # latents 0,1 only see frames 0..4
    assert not torch.allclose(latent[:, :, 2], latent_edited[:, :, 2])
    tok8 = Wan2pt1VAETokenizer(dtype="float32", load_weights=False, temporal_window=8, **TINY_WAN_GEOMETRY)
    tok8.model.load_state_dict(tok.model.state_dict())
    assert _rel(tok8.encode(video), latent) < 1e-6
    with pytest.raises(ValueError, match="multiple of 4"):
        Wan2pt1VAETokenizer(dtype="float32", load_weights=False, temporal_window=6, **TINY_WAN_GEOMETRY)


def test_encode_frames_independently():
    """Predict1 action setting: every frame is its own image, so 2 pixel frames -> 2 latent frames."""
    clip = Wan2pt1VAETokenizer(dtype="float32", load_weights=False, **TINY_WAN_GEOMETRY)
    _randomize(clip.model, 8)
    per_frame = Wan2pt1VAETokenizer(dtype="float32", load_weights=False, encode_frames_independently=True,
                                    **TINY_WAN_GEOMETRY)  # fmt: skip
    per_frame.model.load_state_dict(clip.model.state_dict())
    assert per_frame.temporal_compression_factor == 1
    assert per_frame.get_latent_num_frames(2) == 2 and per_frame.get_pixel_num_frames(2) == 2
    video = torch.rand(2, 3, 2, 16, 16) * 2 - 1
    latent = per_frame.encode(video)
    assert latent.shape == (2, 4, 2, 2, 2)
    for t in range(2):
        assert _rel(latent[:, :, t : t + 1], clip.encode(video[:, :, t : t + 1])) < 1e-6
    decoded = per_frame.decode(latent)
    assert decoded.shape == video.shape
    assert _rel(decoded[:, :, 1:], clip.decode(latent[:, :, 1:])) < 1e-6


def test_bfloat16_tokenizer_close_to_float32():
    tok32 = Wan2pt1VAETokenizer(dtype="float32", load_weights=False, **TINY_WAN_GEOMETRY)
    _randomize(tok32.model, 6)
    tok16 = Wan2pt1VAETokenizer(dtype="bfloat16", load_weights=False, **TINY_WAN_GEOMETRY)
    tok16.model.load_state_dict(tok32.model.state_dict())
    video = torch.rand(1, 3, 5, 16, 16) * 2 - 1
    lat32, lat16 = tok32.encode(video), tok16.encode(video)
    assert lat16.dtype == torch.float32  # returned in the input's dtype
    assert _rel(lat16, lat32) < 0.05


def test_loading_checkpoints(tmp_path):
    src = Wan2pt1VAETokenizer(dtype="float32", load_weights=False, **TINY)
    _randomize(src.model, 7)
    path = tmp_path / "tokenizer.pth"
    torch.save(src.model.state_dict(), path)
    loaded = Wan2pt1VAETokenizer(vae_pth=str(path), dtype="float32", **TINY)
    for key, value in src.model.state_dict().items():
        assert torch.equal(loaded.model.state_dict()[key], value)
    # diffusers-layout weights load too
    dpath = tmp_path / "diffusers_vae.pth"
    torch.save(wan_to_diffusers_state_dict(src.model.state_dict()), dpath)
    from_diffusers = Wan2pt1VAETokenizer(vae_pth=str(dpath), dtype="float32", **TINY)
    video = torch.rand(1, 3, 5, 16, 16) * 2 - 1
    assert torch.equal(from_diffusers.encode(video), src.encode(video))

    with pytest.raises(FileNotFoundError, match="huggingface-cli download"):
        Wan2pt1VAETokenizer(vae_pth=str(tmp_path / "missing.pth"), **TINY)
    corrupt = tmp_path / "corrupt.pth"
    corrupt.write_bytes(path.read_bytes()[:100])
    with pytest.raises(ValueError, match="corrupt"):
        Wan2pt1VAETokenizer(vae_pth=str(corrupt), **TINY)
    with pytest.raises(ValueError, match="missing keys"):
        Wan2pt1VAETokenizer(vae_pth=str(path), **TINY_WAN_GEOMETRY)
