"""The OFA-KD teachers that ``tools/model_converters/timm_to_mmpretrain.py``
converts from timm: its ``--model`` choices, each with the timm model whose
state dict it takes and the mmpretrain model it gives (read by the tool and
by the hint for a timm checkpoint given where an mmpretrain one belongs)."""
from typing import Dict, NamedTuple, Tuple


class TimmTeacher(NamedTuple):
    """One ``--model`` choice of the timm converter.

    Args:
        timm_name (str): The timm model whose state dict is expected.
        mmpretrain_model (str): The mmpretrain model it converts to (a
            ``mmpretrain.get_model`` name).
    """
    timm_name: str
    mmpretrain_model: str


TIMM_TEACHERS: Dict[str, TimmTeacher] = {
    'deit-t': TimmTeacher('deit_tiny_patch16_224', 'deit-tiny_4xb256_in1k'),
    'vit-s': TimmTeacher('vit_small_patch16_224', 'deit-small_4xb256_in1k'),
    'swin-t': TimmTeacher('swin_tiny_patch4_window7_224',
                          'swin-tiny_16xb64_in1k'),
    'convnext-t': TimmTeacher('convnext_tiny', 'convnext-tiny_32xb128_in1k'),
    'resnet34': TimmTeacher('resnet34', 'resnet34_8xb32_in1k'),
    'resnet50': TimmTeacher('resnet50', 'resnet50_8xb32_in1k'),
    'mixer-b16': TimmTeacher('mixer_b16_224',
                             'mlp-mixer-base-p16_3rdparty_64xb64_in1k'),
    'beitv2-b': TimmTeacher('beitv2_base_patch16_224',
                            'beit-base-p16_beitv2-in21k-pre_3rdparty_in1k'),
}


def timm_converter_models() -> Tuple[str, ...]:
    """``--model`` choices of the timm converter with their timm names,
    e.g. ``'deit-t (deit_tiny_patch16_224)'``, sorted."""
    return tuple(f'{name} ({teacher.timm_name})'
                 for name, teacher in sorted(TIMM_TEACHERS.items()))
