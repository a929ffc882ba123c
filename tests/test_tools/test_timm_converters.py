"""tools/model_converters/timm_to_mmpretrain.py: the command each teacher
config documents converts a randomly initialised timm teacher, in the layout
of the file the config names, into a checkpoint that loads strictly into the
config's model and gives the same logits on the same (normalised) input;
wrong files are refused with a clear error."""
import glob
import importlib.util
import os.path as osp
import re
import sys
from collections import OrderedDict
from typing import Dict, List

import pytest
import torch
from mmengine.config import Config
from mmengine.registry import DefaultScope
from mmpretrain.registry import MODELS

from conftest import CONFIG_DIR, REPO_ROOT

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


def _teacher_command(config: str) -> List[str]:
    """The converter command a teacher config documents, as argv."""
    with open(osp.join(CONFIG_DIR, 'teachers', config)) as f:
        text = f.read()
    match = re.search(
        r'timm_to_mmpretrain\.py (--model \S+) \\\n#\s+(\S+) (\S+)', text)
    assert match, f'{config} documents no converter command'
    return match.group(1).split() + [match.group(2), match.group(3)]


def _teacher_model(config: str) -> torch.nn.Module:
    cfg = Config.fromfile(osp.join(CONFIG_DIR, 'teachers', config))
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        return MODELS.build(cfg.model).eval()


def _fb_convnext(state_dict: Dict[str, torch.Tensor]) -> Dict:
    """The same weights in the original ConvNeXt layout (the file timm 0.6.5
    downloads for `convnext_tiny`)."""
    block = r'stages\.(\d+)\.blocks\.(\d+)\.'
    rules = [
        (r'stem\.(.*)', r'downsample_layers.0.\1'),
        (r'stages\.(\d+)\.downsample\.(.*)', r'downsample_layers.\1.\2'),
        (block + r'conv_dw\.(.*)', r'stages.\1.\2.dwconv.\3'),
        (block + r'mlp\.fc([12])\.(.*)', r'stages.\1.\2.pwconv\3.\4'),
        (block + r'(.*)', r'stages.\1.\2.\3'),
        (r'head\.norm\.(.*)', r'norm.\1'),
        (r'head\.fc\.(.*)', r'head.\1'),
    ]
    out = OrderedDict()
    for key, value in state_dict.items():
        for pattern, repl in rules:
            if re.fullmatch(pattern, key):
                key = re.sub(pattern, repl, key)
                break
        out[key] = value
    return out


#: Every teacher config: the timm model of its weights, the input size of
#: the check (convolutional teachers at 64 px to keep the test fast; token
#: models need the 224 px grid of their weights) and how the file the config
#: names holds them: 'bare' (a state dict), 'deit' / 'ms' / 'fb'
#: (`{'model': ...}` in the layouts of Meta's DeiT, Microsoft's Swin (as
#: timm < 0.9) and Meta's ConvNeXt releases), 'release' (the OFA-KD
#: authors' CIFAR-100 teachers, timm 0.6.5 `CheckpointSaver` files).
TEACHERS = [
    ('resnet34_in1k.py', 'resnet34', 64, 'bare'),
    ('resnet50_in1k.py', 'resnet50', 64, 'bare'),
    ('deit-t_in1k.py', 'deit_tiny_patch16_224', 224, 'deit'),
    ('vit-s_in1k.py', 'vit_small_patch16_224', 224, 'bare'),
    ('swin-t_in1k.py', 'swin_tiny_patch4_window7_224', 224, 'ms'),
    ('convnext-t_in1k.py', 'convnext_tiny', 64, 'fb'),
    ('mixer-b16_in1k.py', 'mixer_b16_224', 224, 'bare'),
    ('beitv2-b_in1k.py', 'beitv2_base_patch16_224', 224, 'bare'),
    ('swin-t_cifar100.py', 'swin_tiny_patch4_window7_224', 224, 'release'),
    ('vit-s_cifar100.py', 'vit_small_patch16_224', 224, 'release'),
    ('mixer-b16_cifar100.py', 'mixer_b16_224', 224, 'release'),
    ('convnext-t_cifar100.py', 'convnext_tiny', 64, 'release'),
]


def test_every_teacher_config_is_covered():
    configs = {
        osp.basename(p)
        for p in glob.glob(osp.join(CONFIG_DIR, 'teachers', '*.py'))
        if 'digits' not in p
    }
    assert configs == {t[0] for t in TEACHERS}


@pytest.mark.parametrize(
    'config,timm_name,size,layout', TEACHERS, ids=[t[0] for t in TEACHERS])
def test_teacher_config_command_gives_timm_logits(config, timm_name, size,
                                                  layout, tmp_path,
                                                  monkeypatch):
    """The command a teacher config documents converts a file laid out as
    the one it names; the result loads strictly into the config's model,
    which gives the timm model's logits."""
    target = _teacher_model(config)
    num_classes = target.head.num_classes
    source = _timm_model(timm_name, num_classes)
    weights = source.state_dict()
    if timm_name.startswith('swin') and layout in ('ms', 'release'):
        weights = _old_timm_swin(weights)
    if layout == 'fb':
        weights = _fb_convnext(weights)
    if layout in ('deit', 'ms', 'fb'):
        weights = {'model': weights}
    elif layout == 'release':
        weights = {'epoch': 299, 'arch': timm_name, 'state_dict': weights}
    argv = _teacher_command(config)
    src, dst = str(tmp_path / argv[-2]), str(tmp_path / argv[-1])
    torch.save(weights, src)
    monkeypatch.setattr(
        sys, 'argv', ['timm_to_mmpretrain.py'] + argv[:-2] + [src, dst])
    t2m.main()

    # Loadable by mmengine on torch >= 2.6 (weights_only) without ofakd_mm.
    checkpoint = torch.load(dst, map_location='cpu', weights_only=True)
    target.load_state_dict(checkpoint['state_dict'], strict=True)
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
