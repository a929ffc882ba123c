"""Projector architectures against parameter counts worked out by hand from
OFA-KD (Hao et al., NeurIPS 2023, Sec. 3.2 and its appendix), through the
real distiller dry run."""
import math

import pytest
import torch
from mmengine.hub import get_config
from mmpretrain.structures import DataSample
from mmrazor.registry import MODELS

from ofakd_mm.models.connectors import OFAKDConvProjector, OFAKDTokenProjector


def conv_projector_params(c, k, d_s, d_t, num_classes):
    d = max(d_s, d_t)
    if k == 4:
        body = c * d + d
    else:
        body = 0
        widths = [c * 2**i for i in range(4 - k)] + [d]
        for cin, cout in zip(widths[:-1], widths[1:]):
            # dw 3x3, pw cin->cin, BN, dw 3x3, pw cin->cout, BN
            body += 9 * cin + cin * cin + 2 * cin + 9 * cin + cin * cout \
                + 2 * cout
    return body + d * num_classes + num_classes


def token_projector_params(e, g, k, d_s, num_classes):
    r = max(math.floor(math.log2(g / 7)), 0)
    body = 0
    for i in range(r):
        width_in = 4 * (e if i == 0 else d_s)
        body += 2 * width_in + width_in * d_s  # LayerNorm + Linear, no bias
    if r == 0 and e != d_s:
        body += e * d_s + d_s
    block = 2 * d_s + 3 * d_s * d_s + (d_s * d_s + d_s) + 2 * d_s \
        + (4 * d_s * d_s + 4 * d_s) + (4 * d_s * d_s + d_s)
    body += max(4 - k, 1) * block
    return body + d_s * num_classes + num_classes


def classifier(name, img_size=None):
    model = get_config(f'mmpretrain::{name}').model
    model['_scope_'] = 'mmpretrain'
    if img_size is not None and 'img_size' in model.backbone:
        model.backbone.img_size = img_size
    if model.backbone.type == 'SwinTransformer':
        model.backbone.pad_small_map = True  # 4x4 maps at 112 px
    return model


MODEL_CFGS = {
    'resnet18': 'resnet/resnet18_8xb32_in1k.py',
    'resnet50': 'resnet/resnet50_8xb32_in1k.py',
    'mobilenet-v2': 'mobilenet_v2/mobilenet-v2_8xb32_in1k.py',
    'deit-t': 'deit/deit-tiny_4xb256_in1k.py',
    'swin-t': 'swin_transformer/swin-tiny_16xb64_in1k.py',
    'convnext-t': 'convnext/convnext-tiny_32xb128_in1k.py',
    'mixer-b16': 'mlp_mixer/mlp-mixer-base-p16_64xb64_in1k.py',
}

# student stages at 224 px: (kind, C or E, H or grid), d_S, d_T
PAIRS = {
    ('resnet18', 'deit-t'): ([('map', 64, 56), ('map', 128, 28),
                              ('map', 256, 14), ('map', 512, 7)], 512, 192),
    ('mobilenet-v2', 'swin-t'): ([('map', 24, 56), ('map', 32, 28),
                                  ('map', 96, 14), ('map', 1280, 7)], 1280,
                                 768),
    ('deit-t', 'resnet50'): ([('tok', 192, 14)] * 4, 192, 2048),
    ('swin-t', 'convnext-t'): ([('tok', 96, 56), ('tok', 192, 28),
                                ('tok', 384, 14), ('tok', 768, 7)], 768, 768),
    ('mixer-b16', 'resnet50'): ([('tok', 768, 14)] * 4, 768, 2048),
}


@pytest.mark.parametrize('size', [224, 112])
@pytest.mark.parametrize('pair', list(PAIRS), ids='-'.join)
def test_projector_shapes_and_parameter_counts(pair, size):
    student, teacher = pair
    stages, d_s, d_t = PAIRS[pair]
    algo = MODELS.build(
        dict(_scope_='mmrazor', type='OFAKDDistill',
             architecture=classifier(MODEL_CFGS[student], size),
             teacher=classifier(MODEL_CFGS[teacher], size),
             input_size=size,
             distiller=dict(type='OFAKDDistiller')))
    scale = size / 224
    for k, (kind, width, grid) in enumerate(stages, start=1):
        grid = math.ceil(grid * scale)
        projector = algo.distiller.connectors[f'stage{k}']
        if kind == 'map':
            assert isinstance(projector, OFAKDConvProjector)
            expected = conv_projector_params(width, k, d_s, d_t, 1000)
        else:
            assert isinstance(projector, OFAKDTokenProjector)
            expected = token_projector_params(width, grid, k, d_s, 1000)
        got = sum(p.numel() for p in projector.parameters())
        assert got == expected, f'stage {k}'

    algo.train()
    x = torch.randn(2, 3, size, size)
    samples = [DataSample().set_gt_label(i) for i in (3, 7)]
    losses = algo(x, samples, mode='loss')
    with algo.distiller.student_recorders:
        algo.student(x, mode='tensor')
    for k in range(1, 5):
        record = algo.distiller.student_recorders.get_recorder(
            f'stage{k}').get_record_data()
        logits = algo.distiller.connectors[f'stage{k}'](record)
        assert logits.shape == (2, 1000)
        assert torch.isfinite(losses[f'distill.loss_ofa_stage{k}'])


def test_conv_projector_structure_and_init():
    proj = OFAKDConvProjector(in_channels=32, stage=2, student_dim=512,
                              teacher_dim=768, num_classes=10)
    convs = [m for m in proj.modules() if isinstance(m, torch.nn.Conv2d)]
    # 2 blocks x (dw, pw, dw, pw), no bias anywhere
    assert len(convs) == 8 and all(c.bias is None for c in convs)
    assert [c.stride[0] for c in convs] == [2, 1, 1, 1, 2, 1, 1, 1]
    assert convs[3].out_channels == 64 and convs[7].out_channels == 768
    big = convs[-1]  # pw 64 -> 768: fan_out = 768
    assert big.weight.std().item() == pytest.approx(
        math.sqrt(2 / 768), rel=0.1)
    for bn in (m for m in proj.modules()
               if isinstance(m, torch.nn.BatchNorm2d)):
        assert torch.all(bn.weight == 1) and torch.all(bn.bias == 0)
    assert proj.fc.weight.std().item() == pytest.approx(0.02, rel=0.1)
    assert torch.all(proj.fc.bias == 0)
    out = proj(torch.randn(2, 32, 28, 28))
    assert out.shape == (2, 10)

    last = OFAKDConvProjector(in_channels=32, stage=4, student_dim=16,
                              teacher_dim=8, num_classes=10)
    assert isinstance(last.downsample, torch.nn.Conv2d)
    assert last.downsample.kernel_size == (1, 1)
    assert last.downsample.bias is not None


@pytest.mark.parametrize('grid,merges,last_act', [(14, 1, 'GELU'),
                                                  (28, 2, 'Identity'),
                                                  (56, 3, 'Identity'),
                                                  (7, 0, None), (12, 0, None)])
def test_token_projector_merging(grid, merges, last_act):
    proj = OFAKDTokenProjector(embed_dim=32, grid_size=grid, stage=1,
                               student_dim=64, num_classes=5,
                               num_extra_tokens=1)
    assert len(proj.mergers) == merges
    if merges:
        acts = [type(a).__name__ for a in proj.merge_acts]
        assert acts[-1] == last_act
        assert all(a == 'GELU' for a in acts[:-1])
    assert len(proj.blocks) == 3
    for block in proj.blocks:
        assert block.attn.qkv.bias is None
        assert block.attn.num_heads == 4
    tokens = torch.randn(2, 1 + grid * grid, 32)
    # the class token must reach the head: changing it changes the logits
    out = proj(tokens)
    tokens2 = tokens.clone()
    tokens2[:, 0] += 1
    assert out.shape == (2, 5)
    assert not torch.allclose(out, proj(tokens2))


def test_projector_rejects_bad_stage():
    with pytest.raises(ValueError, match='stage must be 1, 2, 3 or 4'):
        OFAKDConvProjector(8, stage=5, student_dim=8, teacher_dim=8,
                           num_classes=2)


def test_channels_last_conv_projector_has_the_same_layers():
    first = OFAKDConvProjector(in_channels=24, stage=2, student_dim=64,
                               teacher_dim=32, num_classes=10)
    last = OFAKDConvProjector(in_channels=24, stage=2, student_dim=64,
                              teacher_dim=32, num_classes=10,
                              data_format='channels_last')
    assert sum(p.numel() for p in last.parameters()) == \
        conv_projector_params(24, 2, 64, 32, 10)
    last.load_state_dict(first.state_dict(), strict=True)
    first.eval()
    last.eval()
    x = torch.randn(2, 24, 8, 8)
    assert torch.allclose(first(x), last(x.permute(0, 2, 3, 1)), atol=1e-6)
    with pytest.raises(ValueError, match='data_format'):
        OFAKDConvProjector(in_channels=24, stage=2, student_dim=64,
                           teacher_dim=32, num_classes=10, data_format='NHWC')


def test_projectors_reject_features_they_were_not_built_for():
    tokens = OFAKDTokenProjector(embed_dim=16, grid_size=4, stage=3,
                                 student_dim=16, num_classes=5,
                                 num_extra_tokens=1)
    assert tokens(torch.randn(2, 17, 16)).shape == (2, 5)
    assert tokens((torch.randn(2, 17, 16), (4, 4))).shape == (2, 5)
    with pytest.raises(ValueError, match='input_size'):
        tokens(torch.randn(2, 26, 16))  # a 5x5 grid
    with pytest.raises(ValueError, match='input_size'):
        tokens((torch.randn(2, 17, 16), (2, 8)))  # same count, other grid
    conv = OFAKDConvProjector(in_channels=8, stage=4, student_dim=16,
                              teacher_dim=16, num_classes=5)
    with pytest.raises(ValueError, match='input_size'):
        conv(torch.randn(2, 16, 4, 4))


def test_projectors_take_no_init_cfg_and_keep_their_init():
    """OFA-KD's initialisation is the only one: an ``init_cfg`` is refused
    (it used to be accepted and ignored), every Linear of a token projector
    (attention and MLP included) gets the truncated normal, and the
    runner's weight initialisation leaves the built projectors as they
    are."""
    for cfg in (dict(type='OFAKDConvProjector', in_channels=8, stage=4,
                     student_dim=16, teacher_dim=16, num_classes=3),
                dict(type='OFAKDTokenProjector', embed_dim=16, grid_size=7,
                     stage=4, student_dim=16, num_classes=3)):
        with pytest.raises(TypeError, match='init_cfg'):
            MODELS.build(dict(cfg, _scope_='mmrazor',
                              init_cfg=dict(type='Constant', val=0.)))
    token = OFAKDTokenProjector(embed_dim=128, grid_size=7, stage=3,
                                student_dim=128, num_classes=100)
    for m in token.modules():
        if isinstance(m, torch.nn.Linear):
            assert m.weight.std().item() == pytest.approx(0.02, rel=0.1)
            assert m.bias is None or torch.all(m.bias == 0)
        elif isinstance(m, torch.nn.LayerNorm):
            assert torch.all(m.weight == 1) and torch.all(m.bias == 0)

    from conftest import OFA_DIGITS_CFG, load_config
    algo = MODELS.build(dict(load_config(OFA_DIGITS_CFG).model.to_dict(),
                             _scope_='mmrazor', teacher_ckpt=None))
    built = {k: v.clone() for k, v in algo.distiller.state_dict().items()}
    algo.init_weights()  # what the Runner does before training
    after = algo.distiller.state_dict()
    assert all(torch.equal(after[k], v) for k, v in built.items())
