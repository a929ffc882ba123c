"""Checkpoint loading helpers of ofakd_mm."""
import os.path as osp

from mmengine.runner.checkpoint import _load_checkpoint
from torch import nn


def load_teacher_checkpoint(teacher: nn.Module, filename: str) -> None:
    """Load a teacher checkpoint strictly, with errors that say what to do.

    Args:
        teacher (nn.Module): The built teacher model.
        filename (str): Local path of an mmpretrain checkpoint (a dict with
            ``state_dict``) or of a bare state dict.
    """
    if not osp.isfile(osp.expanduser(filename)):
        raise FileNotFoundError(
            f'teacher_ckpt {filename!r} does not exist. Train or download the '
            'teacher first (see configs/teachers/) or set `teacher_ckpt` '
            '(e.g. --cfg-options model.teacher_ckpt=PATH).')
    checkpoint = _load_checkpoint(filename, map_location='cpu')
    state_dict = checkpoint.get('state_dict', checkpoint)
    state_dict = {
        (k[7:] if k.startswith('module.') else k): v
        for k, v in state_dict.items()
    }
    own = teacher.state_dict()
    missing = [k for k in own if k not in state_dict]
    unexpected = [k for k in state_dict if k not in own]
    mismatched = [
        f'{k}: file {tuple(state_dict[k].shape)} vs model {tuple(v.shape)}'
        for k, v in own.items()
        if k in state_dict and tuple(state_dict[k].shape) != tuple(v.shape)
    ]
    if missing or unexpected or mismatched:
        hint = ''
        if any(k.startswith(('architecture.', 'teacher.'))
               for k in unexpected):
            hint = (' It looks like a distillation checkpoint: extract the '
                    'model with tools/model_converters/'
                    'convert_kd_ckpt_to_student.py first.')
        elif unexpected and not any(k.startswith(('backbone.', 'head.'))
                                    for k in unexpected):
            hint = (' It looks like a timm checkpoint: convert it with '
                    'tools/model_converters/timm_to_mmpretrain.py first.')
        raise KeyError(
            f'teacher_ckpt {filename!r} does not match the teacher config: '
            f'{len(missing)} missing keys {missing[:3]}, {len(unexpected)} '
            f'unexpected keys {unexpected[:3]}, shape mismatches '
            f'{mismatched[:3]} (a different num_classes?).{hint}')
    teacher.load_state_dict(state_dict, strict=True)
