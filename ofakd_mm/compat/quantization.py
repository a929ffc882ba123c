"""mmrazor 1.0.0 builds its quantization backend configs at import time with
``torch.ao`` names that torch >= 2 removed, so ``import mmrazor.models``
fails; :func:`patch_mmrazor_quantization` replaces that one module so the
rest of mmrazor (knowledge distillation) imports.

This module imports nothing of mmrazor or of ofakd_mm.
"""
import sys
import types
from typing import Any

import torch

_BACKEND_CONFIG_MODULE = 'mmrazor.structures.quantization.backend_config'
_BACKENDS = ('academic', 'native', 'tensorrt', 'openvino')


class QuantizationUnavailableError(RuntimeError):
    """Raised when mmrazor quantization is used on a torch it cannot run on."""


def _quantization_unavailable(*args: Any, **kwargs: Any) -> None:
    raise QuantizationUnavailableError(
        'mmrazor 1.0.0 quantization is unavailable on torch '
        f'{torch.__version__}: its backend configs use torch.ao.quantization '
        'APIs that this torch removed, so ofakd_mm disabled them to let the '
        'rest of mmrazor (knowledge distillation) import. Use torch<2 with '
        'mmrazor for quantization-aware training.')


class _UnavailableBackendConfigs(dict):
    """Stands in for ``BackendConfigs``: any lookup raises a clear error."""

    def __getitem__(self, key: str) -> None:
        _quantization_unavailable()

    get = __getitem__  # type: ignore[assignment]


def _quantization_backend_importable() -> bool:
    """Feature test: does this torch still have what mmrazor's
    quantization backend configs import at module level?"""
    try:
        from torch.ao.quantization.fuser_method_mappings import (  # noqa
            reverse2, reverse3, reverse_sequential_wrapper2)
        from torch.ao.quantization.qconfig_mapping import \
            _FIXED_QPARAMS_OP_TO_OBSERVER  # noqa
    except ImportError:
        return False
    return True


def patch_mmrazor_quantization() -> bool:
    """Replace mmrazor's quantization backend configs (built at import time
    with torch.ao names that torch >= 2 removed) by a module whose every entry
    raises :class:`QuantizationUnavailableError`.

    A failed ``import mmrazor.models`` leaves nothing half-imported behind, so
    this also works after such a failure."""
    if (_BACKEND_CONFIG_MODULE in sys.modules
            or _quantization_backend_importable()):
        return False
    stub = types.ModuleType(_BACKEND_CONFIG_MODULE)
    stub.__doc__ = 'Disabled by ofakd_mm.compat: ' + \
        'mmrazor quantization needs torch.ao APIs this torch lacks.'
    stub.BackendConfigs = _UnavailableBackendConfigs(
        {name: None for name in _BACKENDS})
    names = ['BackendConfigs']
    for backend in _BACKENDS:
        for suffix in ('', '_dict'):
            name = f'get_{backend}_backend_config{suffix}'
            setattr(stub, name, _quantization_unavailable)
            names.append(name)
    stub.__all__ = names
    sys.modules[_BACKEND_CONFIG_MODULE] = stub
    return True
