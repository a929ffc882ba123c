"""Checkpoints are read without running code, process-wide.

mmengine 0.10 reads every checkpoint with a bare ``torch.load``: on torch
2.5 that unpickles anything a file holds (a checkpoint from a stranger runs
its code), on torch >= 2.6 it refuses mmengine's own checkpoints
(``Unsupported global: HistoryBuffer``), and its ``http(s)://`` loader
(``torch.hub.load_state_dict_from_url``) always unpickles anything. That is
so on every torch ofakd_mm supports, so :func:`patch_checkpoint_loading` is
applied on all of them; its check only keeps a second call from registering
again.

It is process-wide, not scoped to ofakd_mm's own loads: resume,
``load_from``, ``init_cfg`` pretrained weights and ``teacher_ckpt`` are
loaded by mmengine's ``Runner`` and by MMRazor, outside any code of ours.
What it changes for every other OpenMMLab library of the process (mmdet,
mmseg, mmpretrain, mmrazor, ...) is exactly this: every load through
mmengine's ``CheckpointLoader`` (``load_checkpoint``, ``_load_checkpoint``,
``CheckpointLoader.load_checkpoint``, ``Runner.load_checkpoint`` and
``resume``, ``init_cfg=dict(type='Pretrained')``, ``get_model(...,
pretrained=...)``), for every scheme of mmengine 0.10 (local files,
``http(s)://``, ``pavi://``, ``s3://``/``petrel://``, ``torchvision://``/
``modelzoo://``, ``open-mmlab://``/``openmmlab://``, ``mmcls://``):

- uses ``torch.load(weights_only=True)`` with an allow-list of what
  mmengine checkpoints hold; a file that pickles anything else raises
  ``UnsafeCheckpointError`` (``OFAKD_UNSAFE_CHECKPOINTS=1`` loads it with
  full unpickling and a warning);
- downloads ``http(s)://`` files to the same place as before (torch.hub's
  ``checkpoints`` directory, local rank 0 first) and reads the cached file
  the same safe way;

and it adds the scheme ``mmpretrain::NAME`` (the weights of a model of
mmpretrain's model zoo). Calls of ``torch.load`` that do not go through
``CheckpointLoader`` (timm, torch.hub, a library's own loader) are not
touched.
"""
from typing import Callable, Iterator, Tuple


def scheme_loaders() -> Iterator[Tuple[str, Callable]]:
    """Each ``(prefix, loader)`` that :func:`patch_checkpoint_loading`
    registers."""
    from ..utils.checkpoint import SCHEME_LOADERS
    for prefixes, loader in SCHEME_LOADERS:
        for prefix in [prefixes] if isinstance(prefixes, str) else prefixes:
            yield prefix, loader


def patch_checkpoint_loading() -> bool:
    """Register the loaders of :mod:`ofakd_mm.utils.checkpoint` for every
    scheme of mmengine's ``CheckpointLoader`` (see the module docstring for
    exactly what that changes).

    Returns:
        bool: False if they are registered already.
    """
    from mmengine.runner.checkpoint import CheckpointLoader
    loaders = list(scheme_loaders())
    if all(CheckpointLoader._schemes.get(prefix) is loader
           for prefix, loader in loaders):
        return False
    for prefix, loader in loaders:
        CheckpointLoader.register_scheme(prefix, loader, force=True)
    return True
