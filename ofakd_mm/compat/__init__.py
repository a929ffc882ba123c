"""Compatibility layer that makes mmrazor 1.0.0 and mmengine 0.10.7 work on
modern torch and on mmpretrain (mmcls renamed).

:func:`apply` is called once by ``import ofakd_mm``, before anything of
mmrazor is imported. Each patch is applied only where it is needed (a
feature test on the installed stack, or, for the checkpoint loaders, every
supported torch: see :mod:`.checkpoint`) and is listed in :data:`APPLIED`
when it is. One concern a module:

- :mod:`.quantization`: mmrazor imports on torch >= 2;
- :mod:`.mmcls`: ``mmcls`` resolves to mmpretrain (modules, registry scope,
  config files), unless a real mmcls is installed;
- :mod:`.mmrazor_kd`: MMRazor's own distillation configs on mmpretrain and
  in one process (DeiT head, default data preprocessor, data-free
  generators);
- :mod:`.checkpoint`: checkpoints are read without running code;
- :mod:`.distributed`: torchrun on a host without any accelerator.
"""
from typing import List

import torch

from .checkpoint import patch_checkpoint_loading
from .distributed import patch_cpu_distributed
from .mmcls import alias_mmcls_configs, alias_mmcls_modules, alias_mmcls_scope
from .mmrazor_kd import (patch_datafree_generator, patch_deit_head,
                         patch_image_classifier_preprocessor)
from .quantization import (QuantizationUnavailableError,
                           patch_mmrazor_quantization)

#: Names of the patches that :func:`apply` installed in this process.
APPLIED: List[str] = []
#: The oldest torch ofakd_mm runs on: the public module state-dict hooks
#: (``nn.Module.register_state_dict_post_hook``,
#: ``register_load_state_dict_pre_hook``) and
#: ``torch.serialization.safe_globals`` of the code-free checkpoint loading
#: arrived in torch 2.5. CI tests torch 2.14.1.
MIN_TORCH = '2.5.0'

#: Every patch, in the order :func:`apply` tries them: those that change
#: what ``import mmrazor`` does come before the first import of mmrazor
#: (by :func:`patch_deit_head`).
PATCHES = (patch_mmrazor_quantization, alias_mmcls_modules,
           alias_mmcls_scope, alias_mmcls_configs, patch_checkpoint_loading,
           patch_cpu_distributed, patch_image_classifier_preprocessor,
           patch_deit_head, patch_datafree_generator)

__all__ = [
    'APPLIED', 'MIN_TORCH', 'PATCHES', 'QuantizationUnavailableError',
    'alias_mmcls_configs', 'alias_mmcls_modules', 'alias_mmcls_scope',
    'apply', 'check_torch_version', 'patch_checkpoint_loading',
    'patch_cpu_distributed', 'patch_datafree_generator', 'patch_deit_head',
    'patch_image_classifier_preprocessor', 'patch_mmrazor_quantization'
]


def check_torch_version(version: str = torch.__version__) -> None:
    """Raise a clear ``ImportError`` on a torch older than :data:`MIN_TORCH`.

    Args:
        version (str): A torch version string. Defaults to the installed one.
    """
    from mmengine.utils import digit_version
    if digit_version(version) < digit_version(MIN_TORCH):
        raise ImportError(
            f'ofakd_mm needs torch >= {MIN_TORCH}, found {version}: install '
            'a newer torch (with its matching torchvision), e.g. '
            '`pip install torch==2.14.1 torchvision==0.29.1`.')


def apply() -> List[str]:
    """Check the torch version, then apply every needed patch once; returns
    the names applied so far."""
    check_torch_version()
    for patch in PATCHES:
        if patch.__name__ not in APPLIED and patch():
            APPLIED.append(patch.__name__)
    return APPLIED
