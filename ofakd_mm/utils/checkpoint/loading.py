"""Checkpoint loading that cannot run code.

A checkpoint is a pickle, and a pickle can call any function while it is
read. mmengine checkpoints pickle training state besides tensors (the message
hub's ``HistoryBuffer``, numpy arrays and scalars), so torch >= 2.6 refuses
them with its ``weights_only=True`` default, while torch < 2.6 and
``torch.hub.load_state_dict_from_url`` (mmengine's ``http(s)://`` loader)
unpickle anything. Every load here uses ``weights_only=True`` with an
allow-list of exactly what mmengine and the tools of this package write
(:func:`checkpoint_safe_globals`); :mod:`ofakd_mm.compat` registers the
loaders of this module for every scheme of mmengine's ``CheckpointLoader``
(resume, ``load_from``, ``init_cfg`` pretrained weights, ``teacher_ckpt``).
Full unpickling happens only when the environment variable
``OFAKD_UNSAFE_CHECKPOINTS=1`` is set, with a warning.
"""
import io
import logging
import os
import os.path as osp
import pickle
import re
import zipfile
from tempfile import TemporaryDirectory
from typing import IO, Any, Callable, List, Optional, Tuple, Union
from urllib.parse import urlparse

import torch
from mmengine.dist import get_dist_info
from mmengine.logging import print_log

#: Environment variable that allows full unpickling (``weights_only=False``)
#: of checkpoints the allow-list refuses.
UNSAFE_CHECKPOINTS_ENV = 'OFAKD_UNSAFE_CHECKPOINTS'
#: ``HistoryBuffer``'s own statistics methods (mmengine 0.10).
_HISTORY_BUFFER_STATISTICS = ('min', 'max', 'mean', 'current')
#: Phrases of torch's weights-only unpickler when it refuses something.
_REFUSAL_PATTERNS = ('Unsupported global', 'is blocked',
                     'unrecognized function', 'Can only build',
                     'Can only create new object', 'not allowed while')

#: torch's legacy (pre-zip) format opens with this number, pickled.
_LEGACY_MAGIC = torch.serialization.MAGIC_NUMBER.to_bytes(10, 'little')
_LEGACY_HEAD = 32

FileLike = Union[str, os.PathLike, IO[bytes]]


class UnsafeCheckpointError(pickle.UnpicklingError, ValueError):
    """A checkpoint whose pickle needs a function or type outside the
    allow-list: reading it fully could run code. Subclasses ``ValueError``
    (a bad input) and ``pickle.UnpicklingError`` (what torch raises)."""


class CheckpointReadError(ValueError):
    """A file that cannot be read as a PyTorch checkpoint: truncated,
    corrupt, or not a checkpoint at all."""


def unsafe_loading_enabled() -> bool:
    """Whether ``OFAKD_UNSAFE_CHECKPOINTS`` allows full unpickling."""
    return os.environ.get(UNSAFE_CHECKPOINTS_ENV, '').strip().lower() in (
        '1', 'true', 'yes')


def _history_buffer_method(owner: Any, name: str) -> Callable:
    """Stands in for ``getattr`` while unpickling.

    ``HistoryBuffer.__getstate__`` pickles its statistics methods
    (``min``, ``max``, ``mean``, ``current``), functions of the class, which
    pickle writes as ``getattr(HistoryBuffer, 'mean')``. Allowing
    ``getattr`` itself would reach any attribute of any allowed object
    (e.g. ``numpy.ndarray.tofile``); this only returns the statistics
    methods of ``HistoryBuffer``.
    """
    from mmengine.logging import HistoryBuffer
    allowed = set(_HISTORY_BUFFER_STATISTICS) | set(
        HistoryBuffer._statistics_methods)
    method = HistoryBuffer.__dict__.get(name) \
        if owner is HistoryBuffer and name in allowed else None
    if not callable(method):
        raise pickle.UnpicklingError(
            f'getattr({owner!r}, {name!r}) is not allowed while loading a '
            'checkpoint (only the statistics methods of mmengine\'s '
            'HistoryBuffer are)')
    return method


def checkpoint_safe_globals() -> List[Union[Callable, Tuple[Callable, str]]]:
    """The globals that mmengine checkpoints need beyond torch's defaults.

    Found with ``torch.serialization.get_unsafe_globals_in_checkpoint`` on
    checkpoints written by mmengine Runners (SGD and AdamW, param
    schedulers, ``EMAHook``, ``save_best``): the message hub's
    ``HistoryBuffer``, numpy arrays, dtypes and scalars (under the module
    names of numpy 1 and 2), and ``getattr`` narrowed to
    :func:`_history_buffer_method`.

    Returns:
        list: Entries for ``torch.serialization.safe_globals``.
    """
    import numpy as np
    from mmengine.logging import HistoryBuffer
    multiarray = np._core.multiarray if hasattr(np, '_core') else \
        np.core.multiarray
    entries: List[Union[Callable, Tuple[Callable, str]]] = [
        HistoryBuffer, np.ndarray, np.dtype
    ]
    # numpy >= 1.25 gives every dtype its own class (numpy.dtypes.*DType),
    # which unpickling a dtype builds.
    entries += sorted({type(np.dtype(c)) for c in np.typecodes['All']},
                      key=str)
    for module in ('numpy.core.multiarray', 'numpy._core.multiarray'):
        entries.append((multiarray._reconstruct, f'{module}._reconstruct'))
        entries.append((multiarray.scalar, f'{module}.scalar'))
    # pickle protocol 2 (torch.save's default) names builtins `__builtin__`.
    for module in ('__builtin__', 'builtins'):
        entries.append((_history_buffer_method, f'{module}.getattr'))
    return entries


def _container_problem(source: FileLike) -> Optional[str]:
    """What is wrong with ``source`` as a PyTorch checkpoint file, found
    without unpickling anything: ``None`` for an intact zip checkpoint
    (torch's format since 1.6: every member passes its CRC check, a
    ``data.pkl`` is there) or a file in torch's legacy format, else why it
    is not one."""
    if hasattr(source, 'seek'):
        source.seek(0)  # type: ignore[union-attr]
    if not zipfile.is_zipfile(source):  # type: ignore[arg-type]
        if hasattr(source, 'seek'):
            source.seek(0)  # type: ignore[union-attr]
            head = source.read(_LEGACY_HEAD)  # type: ignore[union-attr]
        else:
            with open(source, 'rb') as f:  # type: ignore[arg-type]
                head = f.read(_LEGACY_HEAD)
        if _LEGACY_MAGIC in head:
            return None
        return ('not a zip archive (the end of a zip checkpoint is '
                'missing), nor in torch\'s legacy format')
    try:
        with zipfile.ZipFile(source) as archive:  # type: ignore[arg-type]
            bad_member = archive.testzip()
            names = archive.namelist()
    except (zipfile.BadZipFile, EOFError) as e:
        return f'a damaged zip archive ({e})'
    if bad_member is not None:
        return f'a damaged zip archive ({bad_member} fails its CRC check)'
    if not any(n == 'data.pkl' or n.endswith('/data.pkl') for n in names):
        return 'a zip archive without the data.pkl of a PyTorch checkpoint'
    return None


def _refusal(source: FileLike, error: Exception) -> Optional[str]:
    """What the allow-list refused in an intact checkpoint ``source``
    (``'needs GLOBALS'`` or torch's reason), or None if ``error`` is not a
    refusal."""
    names: List[str] = []
    if _is_zip(source):  # torch lists the globals of zip checkpoints only
        if hasattr(source, 'seek'):
            source.seek(0)  # type: ignore[union-attr]
        with torch.serialization.safe_globals(checkpoint_safe_globals()):
            names = torch.serialization.get_unsafe_globals_in_checkpoint(
                source)
    if names:
        return 'needs ' + ', '.join(sorted(names))
    message = str(error)
    if any(p in message for p in _REFUSAL_PATTERNS):
        found = sorted(set(re.findall(r'GLOBAL (\S+)', message)))
        if found:
            return 'needs ' + ', '.join(found)
        line = next(line.strip() for line in message.splitlines()
                    if any(p in line for p in _REFUSAL_PATTERNS))
        return f'was refused ({line.rstrip(".")})'
    return None


def _is_zip(source: FileLike) -> bool:
    if hasattr(source, 'seek'):
        source.seek(0)  # type: ignore[union-attr]
    return zipfile.is_zipfile(source)  # type: ignore[arg-type]


def _short(error: BaseException) -> str:
    """The gist of an exception in one short line."""
    text = str(error)
    # torch's weights-only failures open with advice about torch 2.6; the
    # actual reason follows this marker.
    marker = 'WeightsUnpickler error:'
    if marker in text:
        text = text.split(marker, 1)[1]
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    text = lines[0] if lines else ''
    text = text if len(text) <= 120 else text[:117] + '...'
    return f'{type(error).__name__}: {text}'


def safe_torch_load(source: FileLike,
                    map_location: Any = None,
                    name: Optional[str] = None) -> Any:
    """``torch.load`` with ``weights_only=True`` and
    :func:`checkpoint_safe_globals`.

    Args:
        source (str | PathLike | file): A file name or a binary file object.
        map_location: As for ``torch.load``. Defaults to None.
        name (str, optional): How to name the source in messages (a URL,
            a storage path). Defaults to ``source`` itself.

    Returns:
        Any: The unpickled object (usually a dict).

    Raises:
        UnsafeCheckpointError: The pickle needs a global outside the
            allow-list (nothing of it ran) and ``OFAKD_UNSAFE_CHECKPOINTS``
            is not set.
        CheckpointReadError: The file is truncated, corrupt or not a
            checkpoint.
    """
    name = name or str(source)
    try:
        with torch.serialization.safe_globals(checkpoint_safe_globals()):
            return torch.load(
                source, map_location=map_location, weights_only=True)
    except (FileNotFoundError, PermissionError, IsADirectoryError):
        raise
    except (pickle.UnpicklingError, RuntimeError, EOFError, ValueError,
            IndexError, OSError) as error:
        # What torch.load raises for a damaged or foreign file (measured on
        # truncated, garbled and non-checkpoint files; a zip cut inside its
        # first record gives OSError EINVAL). Whether the file is damaged is
        # decided from the file itself, never from the message.
        problem = _container_problem(source)
        if problem is not None:
            raise CheckpointReadError(
                f'{name!r} cannot be read as a PyTorch checkpoint '
                f'({_short(error)}): it is {problem}. The file is truncated, '
                'corrupt (e.g. a partial copy or download) or not a '
                'checkpoint.') from error
        refused = _refusal(source, error)
        if refused is None:
            raise  # an intact checkpoint that fails for another reason
        if not unsafe_loading_enabled():
            raise UnsafeCheckpointError(
                f'refused to load {name!r}: its pickle {refused}, which is '
                'not among what mmengine checkpoints hold and could run '
                'code when loaded. If you trust the '
                f'file, set the environment variable '
                f'{UNSAFE_CHECKPOINTS_ENV}=1 to load it with full '
                'unpickling.') from error
        print_log(
            f'{UNSAFE_CHECKPOINTS_ENV}=1: loading {name!r} with full '
            f'unpickling although its pickle {refused}; this runs '
            'whatever code the file holds, only do it for files you trust.',
            logger='current', level=logging.WARNING)
        if hasattr(source, 'seek'):
            source.seek(0)  # type: ignore[union-attr]
        return torch.load(
            source, map_location=map_location, weights_only=False)


# Loaders for mmengine's CheckpointLoader (registered by ofakd_mm.compat);
# `CheckpointLoader` logs `loader.__name__[10:]` as the backend name.


def load_from_local(filename: str, map_location: Any = None) -> Any:
    """Load a local checkpoint file with :func:`safe_torch_load`."""
    filename = osp.expanduser(filename)
    if not osp.isfile(filename):
        raise FileNotFoundError(f'{filename} can not be found.')
    return safe_torch_load(filename, map_location)


def _load_url(url: str, map_location: Any, model_dir: Optional[str],
              progress: bool) -> Any:
    """Download ``url`` into torch.hub's cache (as
    ``torch.hub.load_state_dict_from_url`` does) and load it safely."""
    if model_dir is None:
        model_dir = osp.join(torch.hub.get_dir(), 'checkpoints')
    os.makedirs(model_dir, exist_ok=True)
    cached = osp.join(model_dir, osp.basename(urlparse(url).path))
    if not osp.exists(cached):
        torch.hub.download_url_to_file(url, cached, None, progress=progress)
    return safe_torch_load(cached, map_location,
                           name=f'{url} (cached as {cached})')


def load_from_http(filename: str,
                   map_location: Any = None,
                   model_dir: Optional[str] = None,
                   progress: bool = os.isatty(0)) -> Any:
    """Download an ``http(s)://`` checkpoint (local rank 0 first, as
    mmengine does) and load it with :func:`safe_torch_load`."""
    rank, world_size = get_dist_info()
    if rank == 0:
        checkpoint = _load_url(filename, map_location, model_dir, progress)
    if world_size > 1:
        torch.distributed.barrier()
        if rank > 0:
            checkpoint = _load_url(filename, map_location, model_dir,
                                   progress)
    return checkpoint


def load_from_ceph(filename: str,
                   map_location: Any = None,
                   backend: str = 'petrel') -> Any:
    """Load an ``s3://`` / ``petrel://`` checkpoint from its storage
    backend with :func:`safe_torch_load`."""
    from mmengine.fileio import get_file_backend
    file_backend = get_file_backend(
        filename, backend_args={'backend': backend})
    with io.BytesIO(file_backend.get(filename)) as buffer:
        return safe_torch_load(buffer, map_location, name=filename)


def load_from_pavi(filename: str, map_location: Any = None) -> Any:
    """Download a ``pavi://`` checkpoint and load it with
    :func:`safe_torch_load`."""
    try:
        from pavi import modelcloud
    except ImportError:
        raise ImportError(
            'Please install pavi to load checkpoint from modelcloud.')
    model = modelcloud.get(filename[len('pavi://'):])
    with TemporaryDirectory() as tmp_dir:
        downloaded = osp.join(tmp_dir, model.name)
        model.download(downloaded)
        return safe_torch_load(downloaded, map_location, name=filename)


def load_from_torchvision(filename: str, map_location: Any = None) -> Any:
    """``torchvision://NAME`` (or deprecated ``modelzoo://NAME``): the
    torchvision URL of the model, loaded by :func:`load_from_http`."""
    from mmengine.runner.checkpoint import get_torchvision_models
    name = filename.split('://', 1)[1]
    return load_from_http(get_torchvision_models()[name],
                          map_location=map_location)


def load_from_openmmlab(filename: str, map_location: Any = None) -> Any:
    """``open-mmlab://NAME``: the URL (or file under mmengine's home) of an
    OpenMMLab model, loaded safely."""
    from mmengine.runner.checkpoint import (_get_mmengine_home,
                                            get_deprecated_model_names,
                                            get_external_models)
    name = filename.split('://', 1)[1]
    name = get_deprecated_model_names().get(name, name)
    url = get_external_models()[name]
    if url.startswith(('http://', 'https://')):
        return load_from_http(url, map_location=map_location)
    return load_from_local(osp.join(_get_mmengine_home(), url), map_location)


def load_from_mmcls(filename: str, map_location: Any = None) -> Any:
    """``mmcls://NAME``: a model of the old mmcls zoo, loaded safely."""
    from mmengine.runner.checkpoint import (_process_mmcls_checkpoint,
                                            get_mmcls_models)
    checkpoint = load_from_http(
        get_mmcls_models()[filename[len('mmcls://'):]],
        map_location=map_location)
    return _process_mmcls_checkpoint(checkpoint)


def load_from_mmpretrain(filename: str, map_location: Any = None) -> Any:
    """``mmpretrain::NAME``: the weights of a model of mmpretrain's model
    zoo (a name of ``mmpretrain.list_models()``), loaded safely."""
    from mmpretrain.apis import ModelHub
    name = filename[len('mmpretrain::'):]
    try:
        weights = ModelHub.get(name).weights
    except ValueError as e:
        raise FileNotFoundError(
            f'{filename!r}: {e} (mmpretrain.list_models() lists them)'
        ) from e
    if not weights:
        raise FileNotFoundError(
            f'{filename!r}: mmpretrain has no weights for {name!r}.')
    return load_from_http(weights, map_location=map_location)


#: ``(prefixes, loader)`` registered in mmengine's ``CheckpointLoader`` by
#: :func:`ofakd_mm.compat.patch_checkpoint_loading`: every scheme of
#: mmengine 0.10 plus ``mmpretrain::``.
SCHEME_LOADERS: Tuple[Tuple[Union[str, Tuple[str, ...]], Callable], ...] = (
    ('', load_from_local),
    (('http://', 'https://'), load_from_http),
    ('pavi://', load_from_pavi),
    ((r'(\S+\:)?s3://', r'(\S+\:)?petrel://'), load_from_ceph),
    (('modelzoo://', 'torchvision://'), load_from_torchvision),
    (('open-mmlab://', 'openmmlab://'), load_from_openmmlab),
    ('mmcls://', load_from_mmcls),
    ('mmpretrain::', load_from_mmpretrain),
)


def load_checkpoint_file(filename: str, map_location: Any = 'cpu') -> Any:
    """Load a checkpoint through mmengine's ``CheckpointLoader`` (any
    scheme it knows: local path, ``http(s)://``, ``s3://``,
    ``open-mmlab://``, ``mmpretrain::``...), which ``ofakd_mm.compat`` makes
    load safely."""
    from mmengine.runner.checkpoint import CheckpointLoader
    return CheckpointLoader.load_checkpoint(
        filename, map_location=map_location, logger='current')
