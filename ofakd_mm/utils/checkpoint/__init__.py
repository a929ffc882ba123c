"""Checkpoints: loading that cannot run code (:mod:`.loading`), the one
comparison of a state dict with a model's (:mod:`.state_dict`) and strict
teacher loading (:mod:`.teacher`); key prefixes (:mod:`.keys`) and the timm
converter's models (:mod:`.timm_teachers`)."""
from .loading import (SCHEME_LOADERS, UNSAFE_CHECKPOINTS_ENV,
                      CheckpointReadError, UnsafeCheckpointError,
                      checkpoint_safe_globals, load_checkpoint_file,
                      safe_torch_load, unsafe_loading_enabled)
from .state_dict import (StateDictDiff, StateDictMismatchError,
                         check_state_dict, describe_state_dict_diff,
                         diff_state_dicts, model_state_dict, state_dict_hints)
from .teacher import load_teacher_checkpoint
from .timm_teachers import TIMM_TEACHERS, TimmTeacher, timm_converter_models

__all__ = [
    'CheckpointReadError', 'SCHEME_LOADERS', 'StateDictDiff',
    'StateDictMismatchError', 'TIMM_TEACHERS', 'TimmTeacher',
    'UNSAFE_CHECKPOINTS_ENV', 'UnsafeCheckpointError', 'check_state_dict',
    'checkpoint_safe_globals',
    'describe_state_dict_diff', 'diff_state_dicts', 'load_checkpoint_file',
    'load_teacher_checkpoint', 'model_state_dict', 'safe_torch_load',
    'state_dict_hints', 'timm_converter_models', 'unsafe_loading_enabled'
]
