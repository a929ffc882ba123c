"""From a distillation run to a plain mmpretrain release: the student's
checkpoint, its standalone config, and the published (hash-named) file.

Used by ``tools/model_converters/convert_kd_ckpt_to_student.py`` and
``tools/model_converters/publish_model.py``. A released checkpoint holds
only ``state_dict`` (mmpretrain keys) and ``meta`` made of plain types, so
that mmengine loads it with torch's ``weights_only=True`` default, without
ofakd_mm.
"""
import copy
import hashlib
import io
import os.path as osp
from collections import OrderedDict
from importlib.metadata import version
from typing import Any, Dict, List, Optional, Tuple

import torch

from .checkpoint import CheckpointReadError, check_state_dict, safe_torch_load
from .checkpoint.keys import EMA_PREFIX, STUDENT_PREFIX, TEACHER_PREFIX
from .config import resolve_model_cfg
from .fileio import atomic_write

#: Top-level keys of a distillation config that a student config drops.
DISTILL_CONFIG_KEYS = ('teacher_ckpt', 'load_from', 'resume', 'work_dir',
                       'launcher')
_PLAIN_MODEL_PREFIXES = ('backbone.', 'neck.', 'head.')
_HASH_BLOCK = 1 << 20


def file_sha256(filename: str) -> str:
    """Hex sha256 digest of a file, read in blocks."""
    sha = hashlib.sha256()
    with open(filename, 'rb') as f:
        for block in iter(lambda: f.read(_HASH_BLOCK), b''):
            sha.update(block)
    return sha.hexdigest()


def read_checkpoint(filename: str) -> Dict[str, Any]:
    """Read a local checkpoint file into a dict without running code (see
    :func:`ofakd_mm.utils.checkpoint.safe_torch_load`), with a clear error
    for a missing, truncated or corrupt file or one that is not a
    checkpoint.

    Args:
        filename (str): Local path of the file.

    Returns:
        dict: The checkpoint (full mmengine checkpoints included).
    """
    if not osp.isfile(filename):
        raise FileNotFoundError(f'checkpoint {filename!r} does not exist.')
    checkpoint = safe_torch_load(filename, map_location='cpu')
    if not isinstance(checkpoint, dict):
        raise CheckpointReadError(
            f'{filename!r} holds a {type(checkpoint).__name__}, not a '
            'checkpoint dict with a `state_dict`.')
    return checkpoint


def _describe_keys(keys: List[str]) -> str:
    prefixes = sorted({k.split('.', 1)[0] + '.' for k in keys})
    return f'{len(keys)} keys with prefixes {prefixes[:6]}'


def _raw_student_weights(checkpoint: Dict[str, Any],
                         filename: str) -> Dict[str, torch.Tensor]:
    """The student's raw (not averaged) weights that an EMA hook swapped
    into ``ema_state_dict`` at save time, under their ``state_dict`` keys
    (``architecture.*``).

    mmengine's ``EMAHook`` averages the whole algorithm: its
    ``ema_state_dict`` holds ``module.architecture.*``. ofakd_mm's
    ``StudentEMAHook`` averages the student alone: ``module.*`` stands for
    ``architecture.*``.
    """
    ema_state = checkpoint['ema_state_dict']
    whole_model = EMA_PREFIX + STUDENT_PREFIX
    if any(k.startswith(whole_model) for k in ema_state):
        raw = {k[len(EMA_PREFIX):]: v for k, v in ema_state.items()
               if k.startswith(whole_model)}
    else:
        raw = {STUDENT_PREFIX + k[len(EMA_PREFIX):]: v
               for k, v in ema_state.items() if k.startswith(EMA_PREFIX)}
    state_dict = checkpoint['state_dict']
    student_keys = {k for k in state_dict if k.startswith(STUDENT_PREFIX)}
    if set(raw) != student_keys:
        raise ValueError(
            f'{filename!r}: its `ema_state_dict` '
            f'({_describe_keys(list(ema_state))}) does not hold the raw '
            "weights of the student's "
            f'{len(student_keys)} keys (an EMA hook of mmengine or ofakd_mm '
            'swaps them there at save time), so the raw weights cannot be '
            'told from the averaged ones. Release the averaged weights with '
            '--ema, or a checkpoint saved without an EMA hook.')
    return raw


def extract_student_state_dict(checkpoint: Dict[str, Any], filename: str,
                               ema: bool = False
                               ) -> Tuple['OrderedDict[str, torch.Tensor]',
                                          List[str]]:
    """The student's weights of a distillation checkpoint, without the
    ``architecture.`` prefix.

    An EMA hook (mmengine's ``EMAHook``, ofakd_mm's ``StudentEMAHook``)
    swaps the weights when it saves (``before_save_checkpoint``):
    ``state_dict`` holds the averages (what validation and ``tools/test.py``
    use) and ``ema_state_dict`` the raw trained weights. Hence ``ema=True``
    takes ``state_dict`` but requires an ``ema_state_dict`` to exist, and
    ``ema=False`` takes the raw weights from ``ema_state_dict`` if there is
    one.

    Args:
        checkpoint (dict): A checkpoint read by :func:`read_checkpoint`.
        filename (str): Its path, for messages.
        ema (bool): Release the EMA weights. Defaults to False.

    Returns:
        tuple[OrderedDict, list[str]]: The student state dict (mmpretrain
        keys such as ``backbone.*``, ``head.*``) and the dropped prefixes.
    """
    state_dict = checkpoint.get('state_dict')
    if not isinstance(state_dict, dict) or not state_dict:
        raise ValueError(
            f'{filename!r} is not a distillation checkpoint: it has no '
            f'`state_dict` (top-level keys {sorted(checkpoint)[:8]}).')
    keys = list(state_dict)
    if not any(k.startswith(STUDENT_PREFIX) for k in keys):
        if any(k.startswith(_PLAIN_MODEL_PREFIXES) for k in keys):
            hint = ('It looks like a plain mmpretrain checkpoint (e.g. the '
                    "teacher's): it needs no conversion, publish it with "
                    'tools/model_converters/publish_model.py.')
        elif any(k.startswith(TEACHER_PREFIX) for k in keys):
            hint = 'It holds only a teacher.'
        else:
            hint = 'Pass the checkpoint of a distillation run (epoch_*.pth).'
        raise ValueError(
            f'{filename!r} is not a distillation checkpoint: no '
            f'{STUDENT_PREFIX!r} (student) keys, found '
            f'{_describe_keys(keys)}. {hint}')

    source = state_dict
    if ema:
        if 'ema_state_dict' not in checkpoint:
            raise ValueError(
                f'--ema: {filename!r} has no `ema_state_dict`, the run had '
                "no EMA hook (custom_hooks=[dict(type='StudentEMAHook')] or "
                "mmengine's EMAHook). Convert it without --ema.")
    elif 'ema_state_dict' in checkpoint:
        source = {**state_dict,
                  **_raw_student_weights(checkpoint, filename)}

    student: 'OrderedDict[str, torch.Tensor]' = OrderedDict()
    dropped = set()
    for key, value in source.items():
        if key.startswith(STUDENT_PREFIX):
            student[key[len(STUDENT_PREFIX):]] = value
        else:
            dropped.add(key.split('.', 1)[0] + '.')
    return student, sorted(dropped)


def _plain(value: Any) -> Any:
    """``value`` with only types that ``torch.load(weights_only=True)``
    accepts (anything else becomes its ``str``)."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, tuple):
        return tuple(_plain(v) for v in value)
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if hasattr(value, 'item') and getattr(value, 'ndim', 1) == 0:
        return value.item()  # numpy / torch scalars
    return str(value)


def release_meta(meta: Optional[Dict[str, Any]],
                 **source: Any) -> Dict[str, Any]:
    """Meta of a released checkpoint: the source meta made safe for
    ``weights_only`` loading, plus ``source`` entries.

    Args:
        meta (dict, optional): ``meta`` of the source checkpoint.
        **source: Entries to record (source checkpoint, config, ...).

    Returns:
        dict: The new meta.
    """
    new_meta = _plain(dict(meta or {}))
    new_meta.update(_plain(source))
    return new_meta


def check_state_dict_matches(state_dict: Dict[str, torch.Tensor],
                             model: torch.nn.Module, config: str) -> None:
    """Raise a :class:`~ofakd_mm.utils.checkpoint.StateDictMismatchError`
    (a ``KeyError``) naming the missing, unexpected and mismatched keys
    unless ``state_dict`` fits ``model`` exactly.

    Args:
        state_dict (dict): The student's weights.
        model (nn.Module): The student built from ``config``.
        config (str): The config's path, for messages.
    """
    check_state_dict(
        state_dict, model.state_dict(),
        f'the checkpoint does not match the student of {config!r}',
        fix='Pass the config the checkpoint was trained with.')


def _walk(node: Any, path: str = ''):
    """Yield ``(path, dict)`` for every dict nested in a config value."""
    if isinstance(node, dict):
        yield path, node
        for k, v in node.items():
            yield from _walk(v, f'{path}.{k}' if path else str(k))
    elif isinstance(node, (list, tuple)):
        for i, v in enumerate(node):
            yield from _walk(v, f'{path}[{i}]')


def _strip_scope(node: Any, everywhere: bool) -> Any:
    """Drop ``_scope_`` keys (all, or only redundant ``'mmpretrain'`` ones)
    and the ``mmpretrain.`` prefix of ``type`` names."""
    if isinstance(node, dict):
        out = {}
        for k, v in node.items():
            if k == '_scope_' and (everywhere or v == 'mmpretrain'):
                continue
            if k == 'type' and isinstance(v, str) and \
                    v.startswith('mmpretrain.'):
                v = v[len('mmpretrain.'):]
            out[k] = _strip_scope(v, everywhere)
        return out
    if isinstance(node, (list, tuple)):
        return type(node)(_strip_scope(v, everywhere) for v in node)
    return node


def _is_distill_part(node: Any) -> bool:
    """A loop/hook of mmrazor, or anything scoped to mmrazor."""
    return isinstance(node, dict) and (
        node.get('_scope_') == 'mmrazor'
        or str(node.get('type', '')).startswith('mmrazor.'))


def _types_from_package(node: Any, package: str) -> List[str]:
    """``path=type`` of the components of a model config whose class is
    defined in ``package`` (these need it imported to be built)."""
    from mmpretrain.registry import MODELS
    found = []
    for path, sub in _walk(node):
        if path.endswith('init_cfg') or not isinstance(sub.get('type'), str):
            continue
        cls = MODELS.get(sub['type'])  # None: not a model component
        if cls is not None and getattr(cls, '__module__', '').startswith(
                package + '.'):
            found.append(f'{path or "model"}={sub["type"]}')
    return found


def student_config_dict(cfg: 'Any', config: str) -> Tuple[Dict[str, Any],
                                                          List[str]]:
    """A standalone mmpretrain config of the student of a distillation
    config.

    ``model`` is the student (``model.architecture``, ``_scope_`` keys
    removed) with the data preprocessor the distillation applied to it (the
    algorithm's, set as the top-level ``data_preprocessor``); data,
    evaluators, schedules and runtime are kept as they are, mmrazor loops and
    hooks removed, ``default_scope='mmpretrain'``, ``custom_imports`` of
    ``ofakd_mm`` dropped unless the student itself is built from ofakd_mm
    components. Dataset types are kept: a dataset of ofakd_mm (the built-in
    digits) still needs ``ofakd_mm`` to evaluate (``tools/test.py`` imports
    it); the model part never does for mmpretrain students.

    Args:
        cfg (mmengine.Config): The distillation config.
        config (str): Its path, for messages.

    Returns:
        tuple[dict, list[str]]: The config dict and notes for the user.
    """
    model = cfg.get('model')
    if not isinstance(model, dict) or 'architecture' not in model:
        raise ValueError(
            f'{config!r} is not a distillation config: `model` has no '
            '`architecture` (the student). Pass the config of the run that '
            'wrote the checkpoint.')
    student = copy.deepcopy(dict(model['architecture']))
    student = resolve_model_cfg(student)  # a cfg_path reference, overrides
    preprocessor = model.get('data_preprocessor') or \
        cfg.get('data_preprocessor') or student.get('data_preprocessor')
    # The distillation ran the algorithm's preprocessor, never the
    # student's own one.
    student.pop('data_preprocessor', None)

    notes: List[str] = []
    out: Dict[str, Any] = {}
    for key, value in cfg.to_dict().items():
        if key in ('model', 'data_preprocessor', 'custom_imports',
                   'default_scope') or key in DISTILL_CONFIG_KEYS:
            continue
        out[key] = value
    for loop in ('train_cfg', 'val_cfg', 'test_cfg'):
        if _is_distill_part(out.get(loop)):
            notes.append(f'{loop}: mmrazor loop {out[loop]["type"]} replaced '
                         "by mmengine's default")
            out[loop] = {
                k: v for k, v in out[loop].items()
                if k not in ('type', '_scope_')
            }
    if out.get('custom_hooks'):
        kept = [h for h in out['custom_hooks'] if not _is_distill_part(h)]
        if len(kept) != len(out['custom_hooks']):
            notes.append('custom_hooks: mmrazor hooks removed')
        for hook in kept:
            # The student alone is averaged by mmengine's own EMAHook.
            if str(hook.get('type', '')).split('.')[-1] == 'StudentEMAHook':
                hook['type'] = 'EMAHook'
                hook.pop('student_attr', None)
                notes.append('custom_hooks: StudentEMAHook -> EMAHook')
        out['custom_hooks'] = kept
    # ofakd_mm's hooks and data preprocessor are faster or safer versions
    # of mmengine's / mmpretrain's, which the student config gets instead.
    for key, ours, theirs in (
            ('checkpoint', 'AtomicCheckpointHook', 'CheckpointHook'),
            ('runtime_info', 'BatchedRuntimeInfoHook', 'RuntimeInfoHook')):
        hook = (out.get('default_hooks') or {}).get(key)
        if isinstance(hook, dict) and str(hook.get(
                'type', '')).split('.')[-1] == ours:
            hook['type'] = theirs
            notes.append(f"default_hooks.{key}: {ours} -> mmengine's "
                         f'{theirs}')
    for name, hook in list((out.get('default_hooks') or {}).items()):
        # The student has no OFA-KD stages; their record stays in meta.
        if isinstance(hook, dict) and str(hook.get(
                'type', '')).split('.')[-1] == 'OFAKDStagesHook':
            del out['default_hooks'][name]
            notes.append(f'default_hooks.{name}: OFAKDStagesHook removed')

    out = _strip_scope(out, everywhere=False)
    out['default_scope'] = 'mmpretrain'
    out['model'] = _strip_scope(student, everywhere=True)
    if preprocessor is not None:
        out['data_preprocessor'] = _strip_scope(
            dict(preprocessor), everywhere=True)
        if out['data_preprocessor'].get('type') == 'BatchClsDataPreprocessor':
            # mmpretrain's handles the same stacked batches, copying them
            # to the device with blocking.
            out['data_preprocessor']['type'] = 'ClsDataPreprocessor'
            out['data_preprocessor'].pop('non_blocking', None)
            notes.append('data_preprocessor: BatchClsDataPreprocessor -> '
                         "mmpretrain's ClsDataPreprocessor")
    out['load_from'], out['resume'] = None, False

    imports = list((cfg.get('custom_imports') or {}).get('imports', []))
    needed = _types_from_package(
        [out['model'], out.get('data_preprocessor')], 'ofakd_mm')
    kept_imports = [m for m in imports if not m.startswith('ofakd_mm')]
    if needed:
        kept_imports = imports
        notes.append(f'the student needs ofakd_mm ({needed[:3]}): '
                     'custom_imports kept')
    if kept_imports:
        out['custom_imports'] = dict(
            imports=kept_imports, allow_failed_imports=False)
    from mmpretrain.registry import DATASETS
    ours = sorted({
        sub['type'] for path, sub in _walk(out)
        if path.endswith('dataset') and isinstance(sub.get('type'), str)
        and getattr(DATASETS.get(sub['type']), '__module__',
                    '').startswith('ofakd_mm.')
    })
    if ours:
        notes.append(f'datasets {ours} are defined in ofakd_mm: evaluating '
                     'or training with this config needs ofakd_mm imported '
                     '(e.g. its tools/test.py); the model does not')
    leftovers = [p for p, sub in _walk(out) if _is_distill_part(sub)]
    if leftovers:
        raise ValueError(
            f'{config!r}: the exported config would still use mmrazor at '
            f'{leftovers}; remove them from the config first.')
    return out, notes


def write_config(cfg_dict: Dict[str, Any], filename: str,
                 header: str = '') -> None:
    """Write a config dict as a ``.py`` config file (with a header comment)
    and check that it reads back unchanged."""
    from mmengine.config import Config
    text = Config(cfg_dict).pretty_text
    comment = ''.join(f'# {line}'.rstrip() + '\n'
                      for line in header.splitlines())
    atomic_write((comment + text).encode('utf-8'), filename)
    reread = Config.fromfile(filename, import_custom_modules=False)
    if reread.to_dict()['model'] != cfg_dict['model']:
        raise RuntimeError(f'{filename!r} does not read back as written.')


def build_student(cfg_dict: Dict[str, Any]) -> torch.nn.Module:
    """Build the model of a (student) config dict in mmpretrain's scope."""
    from mmengine.registry import DefaultScope
    from mmpretrain.registry import MODELS
    model_cfg = dict(cfg_dict['model'])
    if cfg_dict.get('data_preprocessor') is not None:
        model_cfg.setdefault('data_preprocessor',
                             cfg_dict['data_preprocessor'])
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        return MODELS.build(model_cfg)


def _checkpoint_bytes(checkpoint: Dict[str, Any]) -> bytes:
    """``torch.save`` of ``checkpoint`` into memory, checked to load with
    ``weights_only=True`` (what mmengine does on torch >= 2.6 without
    ofakd_mm)."""
    buffer = io.BytesIO()
    torch.save(checkpoint, buffer)
    data = buffer.getvalue()
    torch.load(io.BytesIO(data), map_location='cpu', weights_only=True)
    return data


def save_checkpoint(checkpoint: Dict[str, Any], filename: str) -> None:
    """Save a release checkpoint (atomically, see
    :func:`ofakd_mm.utils.fileio.atomic_write`) once it is checked to load
    with ``weights_only=True``."""
    atomic_write(_checkpoint_bytes(checkpoint), filename)


def publish_checkpoint(in_file: str, out_file: str) -> str:
    """Keep only ``state_dict`` and ``meta`` of a checkpoint, save it and
    name it after its sha256 as OpenMMLab does.

    Args:
        in_file (str): A plain (student) checkpoint.
        out_file (str): ``name.pth``; the file written is
            ``name-<first 8 hex digits of its sha256>.pth``.

    Returns:
        str: Path of the published file.
    """
    checkpoint = read_checkpoint(in_file)
    if 'state_dict' not in checkpoint:
        if not all(isinstance(v, torch.Tensor) for v in checkpoint.values()):
            raise ValueError(
                f'{in_file!r} has no `state_dict` and is not a bare state '
                f'dict (top-level keys {sorted(checkpoint)[:8]}).')
        checkpoint = dict(state_dict=checkpoint)
    state_dict = checkpoint['state_dict']
    if any(k.startswith(STUDENT_PREFIX) for k in state_dict):
        raise ValueError(
            f'{in_file!r} is a distillation checkpoint '
            f'({_describe_keys(list(state_dict))}): extract the student '
            'first with tools/model_converters/'
            'convert_kd_ckpt_to_student.py.')
    meta = release_meta(checkpoint.get('meta'))
    meta.setdefault('mmpretrain_version', version('mmpretrain'))
    data = _checkpoint_bytes(
        dict(meta=meta, state_dict=OrderedDict(state_dict)))
    stem = out_file[:-4] if out_file.endswith('.pth') else out_file
    final = f'{stem}-{hashlib.sha256(data).hexdigest()[:8]}.pth'
    atomic_write(data, final)
    return final
