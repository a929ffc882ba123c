"""Compatibility layer that makes mmrazor 1.0.0 and mmengine 0.10.7 work on
modern torch.

:func:`apply` is called once by ``import ofakd_mm``, before anything of mmrazor
is imported. Every patch is guarded by a feature or version test, so it is a
no-op on a stack that does not need it, and is listed in :data:`APPLIED`.
"""
import sys
import types
from typing import Any, Callable, List

import torch

#: Names of the patches that :func:`apply` installed in this process.
APPLIED: List[str] = []
#: The oldest torch ofakd_mm runs on: the public module state-dict hooks
#: (``nn.Module.register_state_dict_post_hook``,
#: ``register_load_state_dict_pre_hook``) and
#: ``torch.serialization.safe_globals`` of the code-free checkpoint loading
#: arrived in torch 2.5. CI tests torch 2.14.1.
MIN_TORCH = '2.5.0'

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


def patch_checkpoint_loading() -> bool:
    """Make every checkpoint load of mmengine unable to run code.

    mmengine 0.10 reads checkpoints with a bare ``torch.load``: on torch <
    2.6 that unpickles anything a file holds (a checkpoint from a stranger
    runs its code), on torch >= 2.6 it refuses mmengine's own checkpoints
    (``Unsupported global: HistoryBuffer``), and its ``http(s)://`` loader
    (``torch.hub.load_state_dict_from_url``) always unpickles anything.
    This registers the loaders of :mod:`ofakd_mm.utils.checkpoint` for every
    scheme of mmengine's ``CheckpointLoader`` (resume, ``load_from``,
    ``init_cfg`` pretrained weights, ``teacher_ckpt``, the tools):
    ``weights_only=True`` with an allow-list of what mmengine checkpoints
    hold; ``OFAKD_UNSAFE_CHECKPOINTS=1`` allows full unpickling with a
    warning. Not applied where torch lacks ``safe_globals`` (torch < 2.5).
    """
    if not hasattr(torch.serialization, 'safe_globals'):
        return False
    from mmengine.runner.checkpoint import CheckpointLoader

    from .utils.checkpoint import SCHEME_LOADERS
    if all(CheckpointLoader._schemes.get(p) is loader
           for prefixes, loader in SCHEME_LOADERS
           for p in ([prefixes] if isinstance(prefixes, str) else prefixes)):
        return False
    for prefixes, loader in SCHEME_LOADERS:
        CheckpointLoader.register_scheme(prefixes, loader, force=True)
    return True


def patch_cpu_distributed() -> bool:
    """Make mmengine's torchrun launcher work on CPU-only machines: no
    ``torch.cuda.set_device``, gloo instead of nccl, DDP without
    ``device_ids``."""
    if torch.cuda.is_available():
        return False
    import mmengine.dist.utils as dist_utils
    from mmengine.model.wrappers import MMDistributedDataParallel

    original_init_dist: Callable = dist_utils._init_dist_pytorch
    original_ddp_init: Callable = MMDistributedDataParallel.__init__

    def _init_dist_pytorch(backend: str, init_backend: str = 'torch',
                           **kwargs: Any) -> None:
        if init_backend != 'torch':
            return original_init_dist(backend, init_backend, **kwargs)
        # nccl needs a GPU; gloo is torch's CPU backend.
        torch.distributed.init_process_group(backend='gloo', **kwargs)

    def ddp_init(self: Any, module: torch.nn.Module, *args: Any,
                 **kwargs: Any) -> None:
        # DDP rejects device_ids for a module that lives on the CPU.
        kwargs['device_ids'] = None
        kwargs.pop('output_device', None)
        original_ddp_init(self, module, *args, **kwargs)

    dist_utils._init_dist_pytorch = _init_dist_pytorch
    MMDistributedDataParallel.__init__ = ddp_init
    return True


_PATCHES = (patch_mmrazor_quantization, patch_checkpoint_loading,
            patch_cpu_distributed)


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
    for patch in _PATCHES:
        if patch.__name__ not in APPLIED and patch():
            APPLIED.append(patch.__name__)
    return APPLIED
