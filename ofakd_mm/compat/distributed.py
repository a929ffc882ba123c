"""mmengine's torchrun launcher on a machine without any accelerator.

mmengine 0.10's ``_init_dist_pytorch`` calls ``torch.cuda.set_device`` on
every host that is not an NPU, MLU or MUSA one, and the usual config asks
for nccl, which needs CUDA; its ``Runner`` then gives DDP
``device_ids=[LOCAL_RANK]``, which torch refuses for a module on the CPU.
:func:`patch_cpu_distributed` changes exactly these three things, and only
on a host with none of CUDA, NPU, MLU and MUSA.
"""
import functools
import logging
from typing import Any, Callable

import torch

#: The backend that replaces nccl (which needs CUDA) on such a host.
CPU_BACKEND = 'gloo'


def has_accelerator() -> bool:
    """Whether mmengine's launcher has a device to bind each process to:
    CUDA, or the NPU, MLU or MUSA that mmengine handles itself."""
    from mmengine import device
    return (torch.cuda.is_available() or device.is_npu_available()
            or device.is_mlu_available() or device.is_musa_available())


def _on_cpu(module: torch.nn.Module) -> bool:
    tensors = list(module.parameters()) + list(module.buffers())
    return all(t.device.type == 'cpu' for t in tensors)


def patch_cpu_distributed() -> bool:
    """On a host without any accelerator, make mmengine's torchrun launcher
    and DDP wrapper work on the CPU:

    - ``_init_dist_pytorch`` skips ``torch.cuda.set_device`` and runs
      gloo where nccl is asked for (any other backend, e.g. an explicit
      ``gloo`` or ``mpi``, is kept), and logs that switch as a warning;
      DeepSpeed/ColossalAI initialisation is left to mmengine;
    - ``MMDistributedDataParallel`` drops ``device_ids`` and
      ``output_device`` for a module whose parameters and buffers are all
      on the CPU (torch raises for them there; GPU modules are untouched).

    Returns:
        bool: Whether the patch was applied (False on a host with CUDA, NPU,
        MLU or MUSA, and when it is applied already).
    """
    import mmengine.dist.utils as dist_utils
    from mmengine.model.wrappers import MMDistributedDataParallel
    if has_accelerator() or getattr(dist_utils._init_dist_pytorch,
                                    '_ofakd_cpu', False):
        return False
    original_init_dist: Callable = dist_utils._init_dist_pytorch
    original_ddp_init: Callable = MMDistributedDataParallel.__init__

    @functools.wraps(original_init_dist)
    def _init_dist_pytorch(backend: str, init_backend: str = 'torch',
                           **kwargs: Any) -> None:
        if init_backend != 'torch':
            return original_init_dist(backend, init_backend, **kwargs)
        from mmengine.logging import print_log
        run = CPU_BACKEND if backend == 'nccl' else backend
        torch.distributed.init_process_group(backend=run, **kwargs)
        if run != backend:
            print_log(
                f'torch.distributed backend: {run!r}, not the {backend!r} '
                f'of the config: {backend} needs CUDA, which this host does '
                'not have (ofakd_mm.compat.patch_cpu_distributed).',
                logger='current', level=logging.WARNING)

    @functools.wraps(original_ddp_init)
    def ddp_init(self: Any, module: torch.nn.Module, *args: Any,
                 **kwargs: Any) -> None:
        if _on_cpu(module):
            # mmengine's Runner passes device_ids=[LOCAL_RANK], which DDP
            # refuses for a CPU module.
            kwargs.pop('device_ids', None)
            kwargs.pop('output_device', None)
        original_ddp_init(self, module, *args, **kwargs)

    _init_dist_pytorch._ofakd_cpu = True  # type: ignore[attr-defined]
    dist_utils._init_dist_pytorch = _init_dist_pytorch
    MMDistributedDataParallel.__init__ = ddp_init
    return True
