"""Convert a timm state dict of an OFA-KD teacher into an mmpretrain
checkpoint (``{'state_dict': ..., 'meta': ...}``) for ``teacher_ckpt``.

Takes a timm model's ``state_dict()`` (the layouts of timm before and
after 0.9), with any number of classes (e.g. teachers fine-tuned on
CIFAR-100), bare or wrapped in ``{'model': ...}`` or ``{'state_dict': ...}``
as training scripts save them, with or without a DDP ``module.`` prefix.

``--model``: timm model -> mmpretrain model (``get_model`` name); the file
the official OFA-KD code loads for it (timm 0.6.5's default weights of the
model name, also timm's current tag given) converts as downloaded:

- ``resnet34``: resnet34 -> resnet34_8xb32_in1k;
  ``resnet34-43635321.pth`` (``resnet34.bt_in1k``)
- ``resnet50``: resnet50 -> resnet50_8xb32_in1k;
  ``resnet50_a1_0-14fe96d1.pth`` (``resnet50.a1_in1k``)
- ``deit-t``: deit_tiny_patch16_224 -> deit-tiny_4xb256_in1k;
  ``deit_tiny_patch16_224-a1311bcf.pth`` (``.fb_in1k``)
- ``vit-s``: vit_small_patch16_224 -> deit-small_4xb256_in1k; timm 0.6.5
  reads a JAX ``.npz`` (AugReg), save the state dict of timm's
  ``vit_small_patch16_224.augreg_in21k_ft_in1k`` (the same weights) instead
- ``swin-t``: swin_tiny_patch4_window7_224 -> swin-tiny_16xb64_in1k;
  ``swin_tiny_patch4_window7_224.pth`` (``.ms_in1k``)
- ``convnext-t``: convnext_tiny -> convnext-tiny_32xb128_in1k;
  ``convnext_tiny_1k_224_ema.pth`` (``.fb_in1k``, the original ConvNeXt
  layout, also accepted)
- ``mixer-b16``: mixer_b16_224 -> mlp-mixer-base-p16_3rdparty_64xb64_in1k;
  ``jx_mixer_b16_224-76587d61.pth`` (``.goog_in21k_ft_in1k``)
- ``beitv2-b``: beitv2_base_patch16_224 ->
  beit-base-p16_beitv2-in21k-pre_3rdparty_in1k; no default weights in timm
  0.6.5 (timm's current default tag: ``.in1k_ft_in22k_in1k``)

The CIFAR-100 teachers released by the OFA-KD authors (timm 0.6.5 state
dicts) convert with the same choices. ``configs/teachers/*.py`` give each
teacher's file, expected top-1 and command.

Example::

    python tools/model_converters/timm_to_mmpretrain.py --model swin-t \\
        swin_tiny_patch4_window7_224.pth checkpoints/swin-t_in1k.pth

The mmpretrain model of a converted checkpoint gives the timm model's logits
on the same normalised input; the images must be normalised as the timm
model expects (the teachers' model configs carry their normalisation).
mmpretrain's ``MlpMixer`` uses LayerNorm eps 1e-5 where timm uses 1e-6: for
exact Mixer logits set ``norm_cfg=dict(type='LN', eps=1e-6)`` in its
backbone (configs/_base_/models/mixer-b16_in1k.py does).
"""
import argparse
import os.path as osp
import re
import sys
from collections import OrderedDict
from typing import Callable, Dict, List, NamedTuple, Optional, Tuple

import torch
from torch import Tensor

from ofakd_mm.utils import release
from ofakd_mm.utils.checkpoint.timm_teachers import TIMM_TEACHERS

StateDict = Dict[str, Tensor]
Rule = Tuple[str, Optional[str]]


class TeacherSpec(NamedTuple):
    """How one ``--model`` is converted.

    Args:
        timm_name (str): The timm model whose state dict is expected.
        mmpretrain_model (str): The mmpretrain config (``get_model`` name).
        convert (callable): timm state dict -> mmpretrain state dict.
        head (str): timm key of the classifier weight (gives num_classes).
    """
    timm_name: str
    mmpretrain_model: str
    convert: Callable[[StateDict], StateDict]
    head: Tuple[str, ...]


def _rename(state_dict: StateDict, rules: List[Rule],
            model: str) -> StateDict:
    """Rename keys by the first matching ``(pattern, replacement)`` rule; a
    ``None`` replacement drops the key (buffers that mmpretrain derives).
    Raise a ``ValueError`` listing the keys that match no rule."""
    out: StateDict = OrderedDict()
    unknown = []
    for key, value in state_dict.items():
        for pattern, repl in rules:
            if re.fullmatch(pattern, key):
                if repl is not None:
                    out[re.sub(pattern, repl, key)] = value
                break
        else:
            unknown.append(key)
    if unknown:
        raise ValueError(
            f'not a timm {model} state dict: {len(unknown)} keys that a '
            f'{model} does not have, e.g. {unknown[:5]}. Check --model '
            '(and that the file holds a classifier, not e.g. a distilled '
            'DeiT or a pre-training checkpoint).')
    return out


_BLOCK = r'blocks\.(\d+)\.'


def convert_vit(state_dict: StateDict) -> StateDict:
    """timm ``VisionTransformer`` (DeiT-T, ViT-S) -> mmpretrain
    ``VisionTransformer`` with ``VisionTransformerClsHead``.

    Args:
        state_dict (dict): timm weights.

    Returns:
        dict: mmpretrain classifier weights.
    """
    if 'dist_token' in state_dict:
        raise ValueError(
            'this is a distilled DeiT (it has `dist_token`); convert a plain '
            'timm ViT/DeiT classifier.')
    rules: List[Rule] = [
        (r'(cls_token|pos_embed)', r'backbone.\1'),
        (r'patch_embed\.proj\.(.*)', r'backbone.patch_embed.projection.\1'),
        (_BLOCK + r'norm1\.(.*)', r'backbone.layers.\1.ln1.\2'),
        (_BLOCK + r'norm2\.(.*)', r'backbone.layers.\1.ln2.\2'),
        (_BLOCK + r'attn\.(qkv|proj)\.(.*)', r'backbone.layers.\1.attn.\2.\3'),
        (_BLOCK + r'mlp\.fc1\.(.*)', r'backbone.layers.\1.ffn.layers.0.0.\2'),
        (_BLOCK + r'mlp\.fc2\.(.*)', r'backbone.layers.\1.ffn.layers.1.\2'),
        (r'norm\.(.*)', r'backbone.ln1.\1'),
        (r'head\.(weight|bias)', r'head.layers.head.\1'),
    ]
    return _rename(state_dict, rules, 'ViT/DeiT')


def swin_merge_order(channels: int) -> Tensor:
    """Index permutation from timm's to mmpretrain's patch-merging layout.

    timm concatenates the 2x2 neighbours as (h0w0, h1w0, h0w1, h1w1) blocks
    of ``channels`` features; mmpretrain's ``nn.Unfold`` gives each channel's
    4 neighbours (h0w0, h0w1, h1w0, h1w1) together.

    Args:
        channels (int): Channels C before merging.

    Returns:
        Tensor: (4C,) long, ``mm_features = timm_features[..., order]``.
    """
    c, kh, kw = torch.meshgrid(
        torch.arange(channels), torch.arange(2), torch.arange(2),
        indexing='ij')
    return ((kw * 2 + kh) * channels + c).flatten()


def convert_swin(state_dict: StateDict) -> StateDict:
    """timm ``SwinTransformer`` (Swin-T) -> mmpretrain ``SwinTransformer``.

    Both timm layouts are accepted: before timm 0.9 the patch merging ends
    stage i (``layers.i.downsample``, i < 3), since then it starts stage
    i + 1; mmpretrain keeps it at the end of stage i.

    Args:
        state_dict (dict): timm weights.

    Returns:
        dict: mmpretrain classifier weights.
    """
    merge_at_start = not any(
        k.startswith('layers.0.downsample.') for k in state_dict)
    blk = r'layers\.(\d+)\.blocks\.(\d+)\.'
    rules: List[Rule] = [
        (r'patch_embed\.proj\.(.*)', r'backbone.patch_embed.projection.\1'),
        (r'patch_embed\.norm\.(.*)', r'backbone.patch_embed.norm.\1'),
        (blk + r'(norm1|norm2)\.(.*)', r'backbone.stages.\1.blocks.\2.\3.\4'),
        (blk + r'attn\.(qkv|proj)\.(.*)',
         r'backbone.stages.\1.blocks.\2.attn.w_msa.\3.\4'),
        (blk + r'attn\.relative_position_bias_table',
         r'backbone.stages.\1.blocks.\2.attn.w_msa.'
         r'relative_position_bias_table'),
        (blk + r'attn\.relative_position_index', None),
        (blk + r'attn_mask', None),
        (blk + r'mlp\.fc1\.(.*)',
         r'backbone.stages.\1.blocks.\2.ffn.layers.0.0.\3'),
        (blk + r'mlp\.fc2\.(.*)',
         r'backbone.stages.\1.blocks.\2.ffn.layers.1.\3'),
        (r'layers\.(\d+)\.downsample\.(norm|reduction)\.(.*)',
         r'backbone.stages.\1.downsample.\2.\3'),
        (r'norm\.(.*)', r'backbone.norm3.\1'),
        (r'head\.(?:fc\.)?(weight|bias)', r'head.fc.\1'),
    ]
    renamed = _rename(state_dict, rules, 'Swin')
    out: StateDict = OrderedDict()
    for key, value in renamed.items():
        match = re.fullmatch(r'backbone\.stages\.(\d+)\.downsample\.(.*)', key)
        if match:
            stage = int(match.group(1)) - int(merge_at_start)
            key = f'backbone.stages.{stage}.downsample.{match.group(2)}'
            order = swin_merge_order(value.shape[-1] // 4)
            value = value[..., order]
        out[key] = value
    return out


def convert_convnext(state_dict: StateDict) -> StateDict:
    """timm ``ConvNeXt`` (ConvNeXt-T) -> mmpretrain ``ConvNeXt``.

    The original ConvNeXt layout (``downsample_layers.*``, ``dwconv``,
    ``pwconv1``: the file timm 0.6.5 downloads for ``convnext_tiny``, which
    its loader renames) is accepted as well.

    Args:
        state_dict (dict): timm (or original ConvNeXt) weights.

    Returns:
        dict: mmpretrain classifier weights.
    """
    if any(k.startswith('downsample_layers.') for k in state_dict):
        blk = r'stages\.(\d+)\.(\d+)\.'
        rules: List[Rule] = [
            (r'downsample_layers\.(.*)', r'backbone.downsample_layers.\1'),
            (blk + r'dwconv\.(.*)',
             r'backbone.stages.\1.\2.depthwise_conv.\3'),
            (blk + r'norm\.(.*)', r'backbone.stages.\1.\2.norm.\3'),
            (blk + r'pwconv1\.(.*)',
             r'backbone.stages.\1.\2.pointwise_conv1.\3'),
            (blk + r'pwconv2\.(.*)',
             r'backbone.stages.\1.\2.pointwise_conv2.\3'),
            (blk + r'gamma', r'backbone.stages.\1.\2.gamma'),
            (r'norm\.(.*)', r'backbone.norm3.\1'),
            (r'head\.(weight|bias)', r'head.fc.\1'),
        ]
        return _rename(state_dict, rules, 'ConvNeXt')
    blk = r'stages\.(\d+)\.blocks\.(\d+)\.'
    rules = [
        (r'stem\.([01])\.(.*)', r'backbone.downsample_layers.0.\1.\2'),
        (r'stages\.(\d+)\.downsample\.([01])\.(.*)',
         r'backbone.downsample_layers.\1.\2.\3'),
        (blk + r'conv_dw\.(.*)', r'backbone.stages.\1.\2.depthwise_conv.\3'),
        (blk + r'norm\.(.*)', r'backbone.stages.\1.\2.norm.\3'),
        (blk + r'mlp\.fc1\.(.*)', r'backbone.stages.\1.\2.pointwise_conv1.\3'),
        (blk + r'mlp\.fc2\.(.*)', r'backbone.stages.\1.\2.pointwise_conv2.\3'),
        (blk + r'gamma', r'backbone.stages.\1.\2.gamma'),
        (r'head\.norm\.(.*)', r'backbone.norm3.\1'),
        (r'head\.fc\.(.*)', r'head.fc.\1'),
    ]
    return _rename(state_dict, rules, 'ConvNeXt')


def convert_resnet(state_dict: StateDict) -> StateDict:
    """timm ``ResNet`` (ResNet-34, ResNet-50) -> mmpretrain ``ResNet``: the
    same module names under ``backbone.``, ``fc`` -> ``head.fc``.

    Args:
        state_dict (dict): timm weights.

    Returns:
        dict: mmpretrain classifier weights.
    """
    rules: List[Rule] = [
        (r'((?:conv1|bn1|layer[1-4])\..*)', r'backbone.\1'),
        (r'fc\.(weight|bias)', r'head.fc.\1'),
    ]
    return _rename(state_dict, rules, 'ResNet')


def convert_mixer(state_dict: StateDict) -> StateDict:
    """timm ``MlpMixer`` (Mixer-B/16) -> mmpretrain ``MlpMixer``.

    Args:
        state_dict (dict): timm weights.

    Returns:
        dict: mmpretrain classifier weights.
    """
    rules: List[Rule] = [
        (r'stem\.proj\.(.*)', r'backbone.patch_embed.projection.\1'),
        (_BLOCK + r'norm1\.(.*)', r'backbone.layers.\1.ln1.\2'),
        (_BLOCK + r'norm2\.(.*)', r'backbone.layers.\1.ln2.\2'),
        (_BLOCK + r'mlp_tokens\.fc1\.(.*)',
         r'backbone.layers.\1.token_mix.layers.0.0.\2'),
        (_BLOCK + r'mlp_tokens\.fc2\.(.*)',
         r'backbone.layers.\1.token_mix.layers.1.\2'),
        (_BLOCK + r'mlp_channels\.fc1\.(.*)',
         r'backbone.layers.\1.channel_mix.layers.0.0.\2'),
        (_BLOCK + r'mlp_channels\.fc2\.(.*)',
         r'backbone.layers.\1.channel_mix.layers.1.\2'),
        (r'norm\.(.*)', r'backbone.ln1.\1'),
        (r'head\.(weight|bias)', r'head.fc.\1'),
    ]
    return _rename(state_dict, rules, 'MLP-Mixer')


def convert_beitv2(state_dict: StateDict) -> StateDict:
    """timm ``Beit`` (BEiT v2-B, mean-pooled classifier) -> mmpretrain
    ``BEiTViT`` with ``out_type='avg_featmap'``.

    Args:
        state_dict (dict): timm weights.

    Returns:
        dict: mmpretrain classifier weights.
    """
    rules: List[Rule] = [
        (r'cls_token', r'backbone.cls_token'),
        (r'patch_embed\.proj\.(.*)', r'backbone.patch_embed.projection.\1'),
        (_BLOCK + r'(gamma_1|gamma_2)', r'backbone.layers.\1.\2'),
        (_BLOCK + r'norm1\.(.*)', r'backbone.layers.\1.ln1.\2'),
        (_BLOCK + r'norm2\.(.*)', r'backbone.layers.\1.ln2.\2'),
        (_BLOCK + r'attn\.(q_bias|v_bias|relative_position_bias_table)',
         r'backbone.layers.\1.attn.\2'),
        (_BLOCK + r'attn\.relative_position_index', None),
        (_BLOCK + r'attn\.(qkv|proj)\.(.*)', r'backbone.layers.\1.attn.\2.\3'),
        (_BLOCK + r'mlp\.fc1\.(.*)', r'backbone.layers.\1.ffn.layers.0.0.\2'),
        (_BLOCK + r'mlp\.fc2\.(.*)', r'backbone.layers.\1.ffn.layers.1.\2'),
        (r'fc_norm\.(.*)', r'backbone.ln2.\1'),
        (r'head\.(weight|bias)', r'head.fc.\1'),
    ]
    return _rename(state_dict, rules, 'BEiT v2')


#: The timm and mmpretrain names of each --model choice come from the
#: package (its hints for a timm checkpoint list them); the conversion and
#: the classifier keys are this tool's.
_CONVERSIONS: Dict[str, Tuple[Callable[[StateDict], StateDict],
                              Tuple[str, ...]]] = {
    'deit-t': (convert_vit, ('head.weight', )),
    'vit-s': (convert_vit, ('head.weight', )),
    'swin-t': (convert_swin, ('head.fc.weight', 'head.weight')),
    'convnext-t': (convert_convnext, ('head.fc.weight', 'head.weight')),
    'resnet34': (convert_resnet, ('fc.weight', )),
    'resnet50': (convert_resnet, ('fc.weight', )),
    'mixer-b16': (convert_mixer, ('head.weight', )),
    'beitv2-b': (convert_beitv2, ('head.weight', )),
}
TEACHERS: Dict[str, TeacherSpec] = {
    name: TeacherSpec(*TIMM_TEACHERS[name], *_CONVERSIONS[name])
    for name in sorted(TIMM_TEACHERS)
}

#: Buffers that mmpretrain computes from the architecture and recent timm
#: does not save: taken from the freshly built model.
DERIVED_BUFFERS = ('relative_position_index', )


def timm_state_dict(checkpoint: dict, source: str = 'checkpoint') -> StateDict:
    """The timm state dict inside a loaded file: a bare state dict, or one
    under ``model`` / ``state_dict`` (timm's train.py, DeiT and OFA-KD
    releases), with a DDP ``module.`` prefix removed.

    Args:
        checkpoint (dict): The unpickled file.
        source (str): Its name, for messages.

    Returns:
        dict: Tensor values keyed by timm names.
    """
    state_dict = checkpoint
    for key in ('state_dict', 'model'):
        if isinstance(state_dict.get(key), dict):
            state_dict = state_dict[key]
            break
    tensors = OrderedDict(
        (k, v) for k, v in state_dict.items() if isinstance(v, Tensor))
    if not tensors:
        raise ValueError(
            f'{source} holds no tensors (top-level keys '
            f'{sorted(checkpoint)[:8]}): not a timm state dict.')
    if all(k.startswith('module.') for k in tensors):
        tensors = OrderedDict((k[len('module.'):], v)
                              for k, v in tensors.items())
    if any(k.startswith(('backbone.', 'architecture.')) for k in tensors):
        raise ValueError(
            f'{source} is already an mmpretrain/mmrazor checkpoint (keys '
            "start with 'backbone.' or 'architecture.'): use it directly.")
    return tensors


def build_target(model: str, num_classes: int) -> torch.nn.Module:
    """The mmpretrain classifier of ``--model`` with ``num_classes``
    outputs, randomly initialised (nothing is downloaded).

    Args:
        model (str): A key of :data:`TEACHERS`.
        num_classes (int): Classifier outputs.

    Returns:
        nn.Module: An mmpretrain ``ImageClassifier`` on the CPU.
    """
    from mmpretrain import get_model
    return get_model(
        TEACHERS[model].mmpretrain_model,
        pretrained=False,
        head=dict(num_classes=num_classes))


def convert_state_dict(model: str,
                       state_dict: StateDict,
                       target: Optional[torch.nn.Module] = None) -> dict:
    """Convert a timm state dict into an mmpretrain checkpoint and check it
    against the mmpretrain model (keys and shapes).

    Args:
        model (str): A key of :data:`TEACHERS` (the ``--model`` choice).
        state_dict (dict): timm weights, any number of classes.
        target (nn.Module, optional): The mmpretrain classifier to check
            against; built with :func:`build_target` when not given.

    Returns:
        dict: ``{'state_dict': ..., 'meta': ...}``, loadable with
        ``strict=True`` into the mmpretrain model built with the same
        number of classes.
    """
    if model not in TEACHERS:
        raise KeyError(f'unknown --model {model!r}; choose from '
                       f'{sorted(TEACHERS)}.')
    spec = TEACHERS[model]
    head = next((k for k in spec.head if k in state_dict), None)
    if head is None:
        raise ValueError(
            f'not a timm {spec.timm_name} classifier: no head weight '
            f'({" or ".join(spec.head)}); got keys like '
            f'{list(state_dict)[:5]}. Check --model.')
    num_classes = state_dict[head].shape[0]
    converted = spec.convert(state_dict)

    if target is None:
        target = build_target(model, num_classes)
    reference = target.state_dict()
    for key, value in reference.items():
        if key not in converted and key.endswith(DERIVED_BUFFERS):
            converted[key] = value
    from ofakd_mm.utils.checkpoint import (describe_state_dict_diff,
                                           diff_state_dicts)
    diff = diff_state_dicts(converted, reference)
    if diff:
        raise ValueError(
            f'the weights do not fit {spec.mmpretrain_model} with '
            f'{num_classes} classes: '
            f'{describe_state_dict_diff(diff, "timm", "mmpretrain")}. The '
            f'file is not a timm {spec.timm_name} state dict: check --model.')
    state = OrderedDict((k, converted[k].detach()) for k in reference)
    meta = dict(
        converted_from='timm',
        timm_model=spec.timm_name,
        mmpretrain_model=spec.mmpretrain_model,
        num_classes=int(num_classes))
    return dict(state_dict=state, meta=meta)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Convert a timm teacher state dict into an mmpretrain '
        'checkpoint')
    parser.add_argument(
        '--model', required=True, choices=sorted(TEACHERS),
        help='which teacher the file holds')
    parser.add_argument('src', help='timm state dict (.pth)')
    parser.add_argument('dst', help='output mmpretrain checkpoint (.pth)')
    args = parser.parse_args()
    if osp.abspath(args.src) == osp.abspath(args.dst):
        parser.error('DST must differ from SRC.')
    return args


def main() -> None:
    args = parse_args()
    try:
        checkpoint = release.read_checkpoint(args.src)
        state_dict = timm_state_dict(checkpoint, repr(args.src))
        result = convert_state_dict(args.model, state_dict)
    except (ValueError, KeyError, FileNotFoundError) as e:
        sys.exit(f'error: {e}')
    result['meta']['source_file'] = osp.basename(args.src)
    release.save_checkpoint(result, args.dst)
    spec = TEACHERS[args.model]
    print(f'{args.src} ({spec.timm_name}, {result["meta"]["num_classes"]} '
          f'classes) -> {args.dst} (mmpretrain {spec.mmpretrain_model})')


if __name__ == '__main__':
    main()
