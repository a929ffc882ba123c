"""The one comparison of a state dict with a model's, with hints that fit
what differs (used for ``teacher_ckpt``, the release tools and the timm
converter)."""
from typing import Any, Dict, List, Mapping, NamedTuple, Optional, Tuple

import torch

from .keys import DDP_PREFIX, DISTILL_PREFIXES, STUDENT_PREFIX
from .loading import CheckpointReadError
from .timm_teachers import timm_converter_models


class StateDictMismatchError(KeyError):
    """Keys or shapes of a state dict do not fit the model. A ``KeyError``
    whose ``str`` is the plain message."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ''


class StateDictDiff(NamedTuple):
    """How a state dict differs from the one a model expects.

    Args:
        missing (list[str]): Keys of the model absent from the file.
        unexpected (list[str]): Keys of the file the model lacks.
        mismatched (list[tuple]): ``(key, file shape, model shape)`` of the
            common keys whose shapes differ.
    """
    missing: List[str]
    unexpected: List[str]
    mismatched: List[Tuple[str, Tuple[int, ...], Tuple[int, ...]]]

    def __bool__(self) -> bool:
        return bool(self.missing or self.unexpected or self.mismatched)


def _shape(value: Any) -> Tuple[int, ...]:
    return tuple(getattr(value, 'shape', ()))


def diff_state_dicts(loaded: Mapping[str, Any],
                     expected: Mapping[str, Any]) -> StateDictDiff:
    """Compare the keys and shapes of ``loaded`` with ``expected``.

    Args:
        loaded (Mapping[str, Tensor]): The state dict read from a file.
        expected (Mapping[str, Tensor]): The model's ``state_dict()``.

    Returns:
        StateDictDiff: Empty (falsy) when they match exactly.
    """
    return StateDictDiff(
        missing=[k for k in expected if k not in loaded],
        unexpected=[k for k in loaded if k not in expected],
        mismatched=[(k, _shape(loaded[k]), _shape(v))
                    for k, v in expected.items()
                    if k in loaded and _shape(loaded[k]) != _shape(v)])


def describe_state_dict_diff(diff: StateDictDiff,
                             loaded_name: str = 'file',
                             expected_name: str = 'model',
                             limit: int = 3) -> str:
    """One line: the counts and first keys of each kind of difference.

    Args:
        diff (StateDictDiff): The comparison.
        loaded_name (str): How to call the loaded side. Defaults to 'file'.
        expected_name (str): How to call the model side.
        limit (int): Keys listed per kind. Defaults to 3.

    Returns:
        str: e.g. ``2 missing keys ['head.fc.bias', ...], 0 unexpected
        keys [], 1 shape mismatch ['head.fc.weight: file (10, 64) vs
        model (100, 64)']``.
    """
    mismatched = [f'{k}: {loaded_name} {a} vs {expected_name} {b}'
                  for k, a, b in diff.mismatched]

    def part(items: List[str], one: str, many: str) -> str:
        more = ', ...' if len(items) > limit else ''
        shown = repr(items[:limit])[:-1] + more + ']'
        return f'{len(items)} {one if len(items) == 1 else many} {shown}'

    return ', '.join([
        part(diff.missing, 'missing key', 'missing keys'),
        part(diff.unexpected, 'unexpected key', 'unexpected keys'),
        part(mismatched, 'shape mismatch', 'shape mismatches')
    ])


def _prefix_difference(diff: StateDictDiff) -> Optional[Tuple[str, str]]:
    """``('file', p)`` if the file's keys are the model's with a prefix
    ``p``, ``('model', p)`` if the model's keys are the file's with ``p``;
    None if neither maps at least 90% of the keys it renames."""
    if not diff.missing or not diff.unexpected:
        return None
    missing, unexpected = set(diff.missing), set(diff.unexpected)
    candidates = []
    for longer, shorter, side in ((diff.unexpected, diff.missing, 'file'),
                                  (diff.missing, diff.unexpected, 'model')):
        for key in longer:
            if key.endswith('.' + shorter[0]):
                candidates.append((side, key[:-len(shorter[0])]))
    for side, prefix in candidates:
        if side == 'file':
            hits = sum(prefix + k in unexpected for k in diff.missing)
            total = len(diff.missing)
        else:
            hits = sum(prefix + k in missing for k in diff.unexpected)
            total = len(diff.unexpected)
        if hits >= 0.9 * total:
            return side, prefix
    return None


def _head_mismatches(diff: StateDictDiff) -> List[Tuple]:
    return [m for m in diff.mismatched
            if m[0].startswith('head.') or '.head.' in m[0]]


def state_dict_hints(diff: StateDictDiff) -> List[str]:
    """Sentences that say what the difference most likely means and what to
    do, only those that fit ``diff``.

    Args:
        diff (StateDictDiff): The comparison (file vs model).

    Returns:
        list[str]: Hints, possibly empty.
    """
    hints = []
    file_keys = diff.unexpected
    model_is_distill = any(
        k.startswith(DISTILL_PREFIXES) for k in diff.missing)
    prefix = _prefix_difference(diff)
    if any(k.startswith(STUDENT_PREFIX) for k in file_keys) and \
            not model_is_distill:
        hints.append(
            'The file is a distillation checkpoint (keys '
            "'architecture.*' are its student): extract the model with "
            'tools/model_converters/convert_kd_ckpt_to_student.py first.')
    elif prefix is not None:
        side, value = prefix
        if side == 'file':
            hints.append(
                f"The file's keys carry a prefix {value!r} the model's keys "
                f'lack (e.g. {value + diff.missing[0]!r}): remove it from '
                'the file\'s keys.')
        else:
            hints.append(
                f"The model's keys have a prefix {value!r} the file's keys "
                f'lack (e.g. {value + diff.unexpected[0]!r} vs '
                f'{diff.unexpected[0]!r}): the file holds only part of '
                'this model, or another model.')
    elif file_keys and not any(k.startswith('backbone.') for k in file_keys) \
            and any(k.startswith('backbone.') for k in diff.missing):
        listed = f' (it converts: {", ".join(timm_converter_models())})'
        hints.append(
            'The keys look like a timm checkpoint (no '
            "'backbone.*' keys): convert it with "
            f'tools/model_converters/timm_to_mmpretrain.py{listed}; other '
            'models need their own conversion.')
    head = _head_mismatches(diff)
    if head:
        key, file_shape, model_shape = head[0]
        if file_shape and model_shape and file_shape[0] != model_shape[0]:
            hints.append(
                f'The classifier heads differ ({key}: file {file_shape} vs '
                f'model {model_shape}): the file was trained with '
                f'{file_shape[0]} classes; set the head\'s num_classes to '
                f'{file_shape[0]} or use a checkpoint with '
                f'{model_shape[0]} classes.')
    if len(head) < len(diff.mismatched):
        hints.append(
            'Shapes differ outside the head: the file holds another '
            'architecture (a different arch, width or depth setting).')
    return hints


def check_state_dict(loaded: Mapping[str, Any],
                     expected: Mapping[str, Any],
                     subject: str,
                     fix: str = '',
                     hints: bool = True) -> None:
    """Raise :class:`StateDictMismatchError` unless ``loaded`` has exactly
    the keys and shapes of ``expected``.

    Args:
        loaded (Mapping[str, Tensor]): The state dict read from a file.
        expected (Mapping[str, Tensor]): The model's ``state_dict()``.
        subject (str): Start of the message, e.g. ``"teacher_ckpt 'x.pth'
            does not match the teacher (model.teacher)"``.
        fix (str): Last sentence of the message (what to change).
        hints (bool): Add :func:`state_dict_hints`. Defaults to True.
    """
    diff = diff_state_dicts(loaded, expected)
    if not diff:
        return
    parts = [f'{subject}: {describe_state_dict_diff(diff)}.']
    if hints:
        parts += state_dict_hints(diff)
    if fix:
        parts.append(fix)
    raise StateDictMismatchError(' '.join(parts))


def model_state_dict(checkpoint: Any, source: str) -> Dict[str, Any]:
    """The weights inside a loaded checkpoint: ``state_dict``, else
    ``model`` (timm and DeiT releases), else the checkpoint itself if it is
    a bare state dict; a DDP ``module.`` prefix is removed.

    Args:
        checkpoint (Any): What :func:`load_checkpoint_file` returned.
        source (str): Its name, for messages.

    Returns:
        dict: Tensor values by key.
    """
    if not isinstance(checkpoint, Mapping):
        raise CheckpointReadError(
            f'{source} holds a {type(checkpoint).__name__}, not a checkpoint '
            '(a dict with a `state_dict`).')
    state_dict = checkpoint
    for key in ('state_dict', 'model'):
        if isinstance(checkpoint.get(key), Mapping):
            state_dict = checkpoint[key]
            break
    if not state_dict or not all(
            isinstance(v, torch.Tensor) for v in state_dict.values()):
        raise CheckpointReadError(
            f'{source} holds no state dict (top-level keys '
            f'{sorted(map(str, checkpoint))[:8]}).')
    return {(k[len(DDP_PREFIX):] if k.startswith(DDP_PREFIX) else k): v
            for k, v in state_dict.items()}
