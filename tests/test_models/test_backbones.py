"""ResMLP, CycleMLP and the Swin-N/P archs: output shapes, OFA-KD stage
shapes and parameter counts (expected counts computed here from the
published architectures, independently of the code)."""
from typing import Dict, List, Sequence

import pytest
import torch
import torch.nn as nn
from mmpretrain.registry import MODELS
from torchvision.ops import deform_conv2d

import ofakd_mm  # noqa: F401  (registers the backbones)
from ofakd_mm.models.backbones.cycle_mlp import CycleFC
from ofakd_mm.models.utils import discover_stage_sources
from ofakd_mm.utils import resolve_model_cfg


def _num_params(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def _build_meta(cfg: dict) -> nn.Module:
    # Parameter counts need no values: build on the meta device (fast).
    with torch.device('meta'):
        return MODELS.build(cfg)


def _classifier(backbone: dict, in_channels: int, neck: dict,
                num_classes: int = 10) -> nn.Module:
    return MODELS.build(
        dict(
            type='ImageClassifier',
            backbone=backbone,
            neck=neck,
            head=dict(
                type='LinearClsHead',
                num_classes=num_classes,
                in_channels=in_channels)))


def stage_sources(model: nn.Module, size: int) -> List[str]:
    """The modules of the four OFA-KD stages of ``model`` at ``size``."""
    return [s.source for s in discover_stage_sources(model, size)]


def _stage_outputs(model: nn.Module, x: torch.Tensor) -> List[torch.Tensor]:
    """Outputs of the four OFA-KD stage modules of ``model`` on ``x``."""
    names = stage_sources(model, x.shape[-1])
    modules = dict(model.named_modules())
    outs: Dict[str, torch.Tensor] = {}
    handles = [
        modules[name].register_forward_hook(
            lambda m, i, o, name=name: outs.__setitem__(name, o))
        for name in names
    ]
    with torch.no_grad():
        model(x, mode='tensor')
    for h in handles:
        h.remove()
    return [outs[name] for name in names]


# ---------------------------------------------------------------- ResMLP


def resmlp_params(dims: int, depth: int, patch: int, tokens: int,
                  num_classes: int = 1000) -> int:
    """ResMLP paper: patch conv; per block affine, linear over patches,
    layer scale, affine, 4x MLP, layer scale; final affine; linear head."""
    block = (2 * dims + tokens * tokens + tokens + dims + 2 * dims +
             dims * 4 * dims + 4 * dims + 4 * dims * dims + dims + dims)
    return (3 * patch * patch * dims + dims + depth * block + 2 * dims +
            dims * num_classes + num_classes)


@pytest.mark.parametrize('arch,dims,depth,patch,published', [
    ('s12', 384, 12, 16, 15.4e6),
    ('s24', 384, 24, 16, 30.0e6),
    ('s36', 384, 36, 16, 44.7e6),
    ('b24', 768, 24, 8, 129.1e6),
])
def test_resmlp_param_count(arch, dims, depth, patch, published):
    backbone = _build_meta(dict(type='ResMLP', arch=arch))
    tokens = (224 // patch)**2
    count = _num_params(backbone) + dims * 1000 + 1000
    assert count == resmlp_params(dims, depth, patch, tokens)
    assert count == pytest.approx(published, rel=5e-3)


def test_resmlp_outputs_and_stages():
    # 64 px keeps it fast: 4x4 = 16 patches (196 at 224 px, checked below).
    model = _classifier(
        dict(type='ResMLP', arch='s12', img_size=64),
        in_channels=384,
        neck=dict(type='GlobalAveragePooling', dim=1))
    model.eval()
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        feats = model.backbone(x)
        logits = model(x, mode='tensor')
    assert len(feats) == 1 and feats[0].shape == (1, 384, 16)
    assert logits.shape == (1, 10)

    assert stage_sources(model, 64) == [
        'backbone.layers.1', 'backbone.layers.3', 'backbone.layers.9',
        'backbone.layers.11'
    ]
    for out in _stage_outputs(model, x):
        assert out.shape == (1, 16, 384)

    backbone = _build_meta(dict(type='ResMLP', arch='s12'))
    assert backbone.patch_resolution == (14, 14)
    assert backbone.layers[0].token_mix.in_features == 196


def test_resmlp_out_indices_and_custom_arch():
    arch = dict(
        embed_dims=32,
        num_layers=6,
        mlp_ratio=2,
        layer_scale_init_value=0.1)
    backbone = MODELS.build(
        dict(type='ResMLP', arch=arch, img_size=32, patch_size=8,
             out_indices=(1, -1)))
    backbone.init_weights()
    feats = backbone(torch.randn(2, 3, 32, 32))
    assert [f.shape for f in feats] == [(2, 32, 16), (2, 32, 16)]
    # Layer scales start at the arch's value (the paper's init).
    assert torch.all(backbone.layers[0].gamma1.weight == 0.1)
    backbone = MODELS.build(
        dict(type='ResMLP', arch=dict(arch, patch_size=4), img_size=32))
    assert backbone.patch_resolution == (8, 8)
    # 24 blocks: stages after blocks 2, 4, 22 and 24.
    model = _classifier(
        dict(type='ResMLP', arch='s24', img_size=32),
        in_channels=384,
        neck=dict(type='GlobalAveragePooling', dim=1))
    assert stage_sources(model, 32)[2:] == [
        'backbone.layers.21', 'backbone.layers.23'
    ]


def test_resmlp_rejects_bad_args():
    with pytest.raises(KeyError, match='s12'):
        MODELS.build(dict(type='ResMLP', arch='s13'))
    with pytest.raises(KeyError, match='embed_dims'):
        MODELS.build(dict(type='ResMLP', arch=dict(embed_dims=8)))
    with pytest.raises(ValueError, match='out_indices'):
        MODELS.build(dict(type='ResMLP', arch='s12', out_indices=12))
    backbone = MODELS.build(dict(type='ResMLP', arch='s12', img_size=32))
    with pytest.raises(ValueError, match='img_size'):
        backbone(torch.randn(1, 3, 64, 64))


# -------------------------------------------------------------- CycleMLP


def cycle_mlp_params(dims: Sequence[int], depths: Sequence[int],
                     ratios: Sequence[int], num_classes: int = 1000) -> int:
    """CycleMLP paper: 7x7/4 patch conv, 3x3/2 conv between stages; per block
    LN, channel FC (no bias), two cycle FCs, reweighting MLP (C -> C/4 ->
    3C), projection, LN, MLP; final LN; linear head."""
    total = 3 * 7 * 7 * dims[0] + dims[0]
    for i, (c, d, r) in enumerate(zip(dims, depths, ratios)):
        if i > 0:
            total += dims[i - 1] * 9 * c + c
        mixer = (c * c + 2 * (c * c + c) + c * (c // 4) + c // 4 +
                 (c // 4) * 3 * c + 3 * c + c * c + c)
        mlp = c * r * c + r * c + r * c * c + c
        total += d * (2 * c + mixer + 2 * c + mlp)
    return total + 2 * dims[-1] + dims[-1] * num_classes + num_classes


@pytest.mark.parametrize('arch,dims,depths,ratios,published', [
    ('b1', [64, 128, 320, 512], [2, 2, 4, 2], [4, 4, 4, 4], 15e6),
    ('b2', [64, 128, 320, 512], [2, 3, 10, 3], [4, 4, 4, 4], 27e6),
    ('b3', [64, 128, 320, 512], [3, 4, 18, 3], [8, 8, 4, 4], 38e6),
    ('b4', [64, 128, 320, 512], [3, 8, 27, 3], [8, 8, 4, 4], 52e6),
    ('b5', [96, 192, 384, 768], [3, 4, 24, 3], [4, 4, 4, 4], 76e6),
])
def test_cycle_mlp_param_count(arch, dims, depths, ratios, published):
    backbone = _build_meta(dict(type='CycleMLP', arch=arch))
    count = _num_params(backbone) + dims[-1] * 1000 + 1000
    assert count == cycle_mlp_params(dims, depths, ratios)
    # Published sizes are rounded to 1M.
    assert abs(count - published) <= 0.5e6


def test_cycle_mlp_outputs_and_stages():
    model = _classifier(
        dict(type='CycleMLP', arch='b3'),
        in_channels=512,
        neck=dict(type='GlobalAveragePooling'))
    model.eval()
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        feats = model.backbone(x)
        logits = model(x, mode='tensor')
    assert len(feats) == 1 and feats[0].shape == (1, 512, 2, 2)
    assert logits.shape == (1, 10)

    assert stage_sources(model, 64) == [
        f'backbone.stages.{i}' for i in range(4)
    ]
    # NCHW maps at strides 4, 8, 16 and 32.
    shapes = [tuple(o.shape) for o in _stage_outputs(model, x)]
    assert shapes == [(1, 64, 16, 16), (1, 128, 8, 8), (1, 320, 4, 4),
                      (1, 512, 2, 2)]


def test_cycle_mlp_out_indices():
    arch = dict(embed_dims=[8, 16, 24, 32], depths=[1, 1, 2, 1],
                mlp_ratios=[2, 2, 2, 2])
    backbone = MODELS.build(
        dict(type='CycleMLP', arch=arch, out_indices=(0, 1, 2, 3)))
    backbone.init_weights()
    feats = backbone(torch.randn(1, 3, 64, 64))
    assert [f.shape[1:] for f in feats] == [(8, 16, 16), (16, 8, 8),
                                            (24, 4, 4), (32, 2, 2)]
    sum(f.square().sum() for f in feats).backward()
    cycle_fc = backbone.stages[1].blocks[0].token_mix.sfc_w
    assert cycle_fc.weight.grad is not None
    assert cycle_fc.weight.grad.abs().sum() > 0
    with pytest.raises(KeyError, match='b3'):
        MODELS.build(dict(type='CycleMLP', arch='b6'))


@pytest.mark.parametrize('dim', [1, 2])
def test_cycle_fc_is_a_deformable_conv_with_cycle_offsets(dim):
    """CycleFC equals the paper's form: a 1x1 deformable conv whose offset
    for input channel c is (c + 1) % 3 - 1 along one axis."""
    torch.manual_seed(0)
    in_channels, out_channels = 7, 5
    fc = CycleFC(in_channels, out_channels, kernel_size=3, dim=dim)
    x = torch.randn(2, in_channels, 6, 5)
    shift = torch.tensor([(c + 1) % 3 - 1 for c in range(in_channels)],
                         dtype=torch.float)
    offset = torch.zeros(1, 2 * in_channels, 1, 1)
    # deform_conv2d offsets are (dy, dx) pairs per offset group (channel).
    offset[0, (0 if dim == 1 else 1)::2, 0, 0] = shift
    expected = deform_conv2d(
        x,
        offset.expand(2, -1, 6, 5),
        fc.weight[:, :, None, None],
        fc.bias,
    )
    out = fc(x.permute(0, 2, 3, 1)).permute(0, 3, 1, 2)
    torch.testing.assert_close(out, expected, atol=1e-5, rtol=1e-5)


# ------------------------------------------------------------ Swin-N/P


def swin_params(dims: int, depths: Sequence[int], heads: Sequence[int],
                window: int = 7, num_classes: int = 1000) -> int:
    """Swin paper: 4x4 patch conv + LN; per block LN, qkv, proj, relative
    position bias table, LN, 4x MLP; patch merging (LN(4C), 4C -> 2C no
    bias) after stages 1..3; final LN; linear head."""
    total = 3 * 16 * dims + dims + 2 * dims
    for i, (d, h) in enumerate(zip(depths, heads)):
        c = dims * 2**i
        block = (2 * c + 3 * c * c + 3 * c + c * c + c +
                 (2 * window - 1)**2 * h + 2 * c + 4 * c * c + 4 * c +
                 4 * c * c + c)
        total += d * block
        if i < len(depths) - 1:
            total += 2 * 4 * c + 4 * c * 2 * c
    c = dims * 2**(len(depths) - 1)
    return total + 2 * c + c * num_classes + num_classes


def _swin_backbone_cfg(model_file: str) -> dict:
    """The backbone of a Swin model file of configs/_base_/models."""
    return resolve_model_cfg(
        dict(cfg_path=f'ofakd_mm::_base_/models/{model_file}'))['backbone']


# The paper's small Swins as the model files define them (dict archs of
# mmpretrain's SwinTransformer), and their parameter counts with a
# 1000-class head.
SMALL_SWINS = [
    ('swin-n_in1k.py', 64, 9_599_940),
    ('swin-p_cifar100.py', 48, 5_506_996),
]


@pytest.mark.parametrize('model_file,dims,expected', SMALL_SWINS)
def test_swin_nano_pico_param_count(model_file, dims, expected):
    # mmpretrain's Swin calls .item() while building: no meta device.
    backbone = MODELS.build(_swin_backbone_cfg(model_file))
    assert backbone.embed_dims == dims
    count = _num_params(backbone) + 8 * dims * 1000 + 1000
    assert count == swin_params(dims, [2, 2, 2, 2], [2, 4, 8, 16])
    assert count == expected


def test_swin_param_formula_matches_swin_tiny():
    # The formula above reproduces mmpretrain's Swin-T (28.29M).
    backbone = MODELS.build(dict(type='SwinTransformer', arch='tiny'))
    count = _num_params(backbone) + 768 * 1000 + 1000
    assert count == swin_params(96, [2, 2, 6, 2], [3, 6, 12, 24])


def test_swin_archs_leave_mmpretrain_untouched():
    # Swin-N/P are dict archs of their model files: importing ofakd_mm adds
    # nothing to mmpretrain's SwinTransformer.
    from mmpretrain.models.backbones import SwinTransformer
    assert not {'n', 'nano', 'p', 'pico'} & set(SwinTransformer.arch_zoo)


def test_swin_nano_stages():
    model = _classifier(
        _swin_backbone_cfg('swin-n_in1k.py'),
        in_channels=512,
        neck=dict(type='GlobalAveragePooling'))
    model.eval()
    x = torch.randn(1, 3, 224, 224)
    with torch.no_grad():
        assert model(x, mode='tensor').shape == (1, 10)
    stages = _stage_outputs(model, x)
    # Swin stages return (tokens, hw) before their patch merging.
    expected = [(1, 3136, 64), (1, 784, 128), (1, 196, 256), (1, 49, 512)]
    assert [tuple(s[0].shape) for s in stages] == expected
