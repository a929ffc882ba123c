"""tools/model_converters/timm_to_mmpretrain.py: a randomly initialised timm
teacher, converted, gives the same logits as the mmpretrain model on the same
(normalised) input; wrong files are refused with a clear error."""
import importlib.util
import os.path as osp
import sys
from collections import OrderedDict
from typing import Dict

import pytest
import torch
from conftest import REPO_ROOT

timm = pytest.importorskip('timm')  # a test-only dependency

_spec = importlib.util.spec_from_file_location(
    'timm_to_mmpretrain',
    osp.join(REPO_ROOT, 'tools', 'model_converters', 'timm_to_mmpretrain.py'))
t2m = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(t2m)


def _timm_model(name: str, num_classes: int) -> torch.nn.Module:
    """A timm model with every weight perturbed (timm zero-initialises some
    heads and starts layer scales at 1e-6, which would hide a wrong mapping)
    and non-trivial BatchNorm statistics, in eval mode."""
    torch.manual_seed(0)
    model = timm.create_model(name, pretrained=False, num_classes=num_classes)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(torch.randn_like(p) * 0.02)
        for name, b in model.named_buffers():
            if name.endswith('running_mean'):
                b.copy_(torch.randn_like(b) * 0.1)
            elif name.endswith('running_var'):
                b.copy_(torch.rand_like(b) + 0.5)
    return model.eval()


def _mm_model(key: str, num_classes: int) -> torch.nn.Module:
    from mmpretrain import get_model
    return get_model(
        t2m.TEACHERS[key].mmpretrain_model,
        pretrained=False,
        head=dict(num_classes=num_classes))


# (--model, num_classes, input size): convolutional teachers run at 64 px
# to keep the test fast; token models need the 224 px grid of their weights.
CASES = [
    ('deit-t', 100, 224),
    ('vit-s', 100, 224),
    ('swin-t', 100, 224),
    ('convnext-t', 1000, 64),
    ('resnet50', 100, 64),
    ('mixer-b16', 100, 224),
    ('beitv2-b', 100, 224),
]


@pytest.mark.parametrize('key,num_classes,size', CASES)
def test_converted_teacher_gives_timm_logits(key, num_classes, size):
    source = _timm_model(t2m.TEACHERS[key].timm_name, num_classes)
    target = _mm_model(key, num_classes)
    checkpoint = t2m.convert_state_dict(key, source.state_dict(), target)
    assert checkpoint['meta']['num_classes'] == num_classes
    target.load_state_dict(checkpoint['state_dict'], strict=True)
    target.eval()

    x = torch.randn(1, 3, size, size)
    with torch.no_grad():
        expected = source(x)
        logits = target(x, mode='tensor')
    assert logits.shape == (1, num_classes)
    assert expected.std() > 0.05  # the check below is not trivial
    torch.testing.assert_close(logits, expected, atol=1e-4, rtol=1e-4)


def _old_timm_swin(state_dict: Dict[str, torch.Tensor]) -> Dict:
    """The same weights in the layout of timm < 0.9: patch merging at the end
    of stage i, a plain ``head`` Linear, saved masks and indices."""
    old = OrderedDict()
    for key, value in state_dict.items():
        parts = key.split('.')
        if key.startswith('layers.') and parts[2] == 'downsample':
            parts[1] = str(int(parts[1]) - 1)
            key = '.'.join(parts)
        old[key.replace('head.fc.', 'head.')] = value
    old['layers.0.blocks.1.attn_mask'] = torch.zeros(64, 49, 49)
    old['layers.0.blocks.0.attn.relative_position_index'] = torch.zeros(
        49, 49, dtype=torch.long)
    return old


def test_swin_old_timm_layout_converts_the_same():
    source = timm.create_model(
        'swin_tiny_patch4_window7_224', pretrained=False, num_classes=10)
    new = t2m.convert_state_dict('swin-t', source.state_dict())
    old = t2m.convert_state_dict('swin-t', _old_timm_swin(source.state_dict()))
    assert list(old['state_dict']) == list(new['state_dict'])
    for key, value in new['state_dict'].items():
        assert torch.equal(old['state_dict'][key], value), key


def test_swin_merge_order_matches_unfold():
    """mmpretrain's merged feature j must be timm's feature order[j]."""
    C, H, W = 3, 4, 4
    x = torch.randn(1, H, W, C)
    timm_feats = x.reshape(1, H // 2, 2, W // 2, 2, C).permute(
        0, 1, 3, 4, 2, 5).flatten(3)  # timm >= 0.9 PatchMerging
    unfold = torch.nn.Unfold(2, stride=2)(x.permute(0, 3, 1, 2))
    mm_feats = unfold.transpose(1, 2).reshape(1, H // 2, W // 2, 4 * C)
    order = t2m.swin_merge_order(C)
    torch.testing.assert_close(mm_feats, timm_feats[..., order])


@pytest.fixture(scope='module')
def deit_tiny_state_dict() -> Dict[str, torch.Tensor]:
    return timm.create_model(
        'deit_tiny_patch16_224', pretrained=False,
        num_classes=100).state_dict()


def test_wrong_model_is_refused(deit_tiny_state_dict):
    with pytest.raises(ValueError, match='not a timm MLP-Mixer state dict'):
        t2m.convert_state_dict('mixer-b16', deit_tiny_state_dict)
    with pytest.raises(ValueError, match='no head weight'):
        t2m.convert_state_dict('resnet50', deit_tiny_state_dict)
    # Same key names, other widths: DeiT-T weights given as ViT-S.
    with pytest.raises(ValueError, match='shape mismatches'):
        t2m.convert_state_dict('vit-s', deit_tiny_state_dict)
    with pytest.raises(KeyError, match='deit-t'):
        t2m.convert_state_dict('deit-b', deit_tiny_state_dict)


def test_distilled_and_mmpretrain_files_are_refused(deit_tiny_state_dict):
    distilled = dict(deit_tiny_state_dict, dist_token=torch.zeros(1, 1, 192))
    with pytest.raises(ValueError, match='distilled'):
        t2m.convert_state_dict('deit-t', distilled)
    mm_ckpt = {'state_dict': {'backbone.cls_token': torch.zeros(1)}}
    with pytest.raises(ValueError, match='already an mmpretrain'):
        t2m.timm_state_dict(mm_ckpt)
    with pytest.raises(ValueError, match='no tensors'):
        t2m.timm_state_dict({'epoch': 3})


def test_cli_converts_a_wrapped_ddp_checkpoint(tmp_path, monkeypatch,
                                               deit_tiny_state_dict):
    src = str(tmp_path / 'deit_cifar100.pth')
    dst = str(tmp_path / 'out' / 'deit-t_mmpretrain.pth')
    wrapped = {f'module.{k}': v for k, v in deit_tiny_state_dict.items()}
    torch.save({'model': wrapped, 'epoch': 299}, src)
    monkeypatch.setattr(
        sys, 'argv', ['timm_to_mmpretrain.py', '--model', 'deit-t', src, dst])
    t2m.main()
    # Loadable by mmengine on torch >= 2.6 (weights_only) without ofakd_mm.
    checkpoint = torch.load(dst, map_location='cpu', weights_only=True)
    assert checkpoint['meta']['num_classes'] == 100
    assert checkpoint['meta']['mmpretrain_model'] == 'deit-tiny_4xb256_in1k'
    assert torch.equal(checkpoint['state_dict']['head.layers.head.weight'],
                       deit_tiny_state_dict['head.weight'])

    monkeypatch.setattr(
        sys, 'argv', ['timm_to_mmpretrain.py', '--model', 'swin-t', src, dst])
    with pytest.raises(SystemExit, match='error: not a timm Swin'):
        t2m.main()
