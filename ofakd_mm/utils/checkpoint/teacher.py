"""Strict loading of a distillation teacher's checkpoint (``teacher_ckpt``)."""
from torch import nn

from .loading import (CheckpointReadError, UnsafeCheckpointError,
                      load_checkpoint_file)
from .state_dict import check_state_dict, model_state_dict


def load_teacher_checkpoint(teacher: nn.Module,
                            filename: str,
                            setting: str = 'teacher_ckpt') -> None:
    """Load the teacher's weights strictly, with errors that name the setting,
    the file, and what to do.

    Args:
        teacher (nn.Module): The built teacher model.
        filename (str): A checkpoint of the teacher (a dict with
            ``state_dict`` or a bare state dict): a local path or anything
            mmengine's ``CheckpointLoader`` reads (``http(s)://``,
            ``s3://``, ``open-mmlab://``, ``mmpretrain::MODEL``...).
        setting (str): The config setting that names the file, for
            messages. Defaults to 'teacher_ckpt'.

    Raises:
        FileNotFoundError: The file does not exist (or its URL answers 404).
        CheckpointReadError: It is truncated, corrupt or not a checkpoint.
        UnsafeCheckpointError: Loading it could run code.
        StateDictMismatchError: Its keys or shapes do not fit the teacher.
    """
    source = f'{setting} {filename!r}'
    set_it = (f'Set `{setting}` (e.g. --cfg-options '
              f'model.{setting}=PATH) to a checkpoint of the teacher; '
              'configs/teachers/ says how to get one.')
    try:
        checkpoint = load_checkpoint_file(filename, map_location='cpu')
    except FileNotFoundError as e:
        raise FileNotFoundError(
            f'{source} does not exist. Train or download the teacher first. '
            f'{set_it}') from e
    except (UnsafeCheckpointError, CheckpointReadError) as e:
        raise type(e)(f'{setting}: {e} {set_it}') from e
    except OSError as e:  # e.g. urllib's HTTPError 404
        if getattr(e, 'code', None) == 404:
            raise FileNotFoundError(
                f'{source} does not exist ({e}). {set_it}') from e
        raise
    state_dict = model_state_dict(checkpoint, source)
    check_state_dict(
        state_dict, teacher.state_dict(),
        f'{source} does not match the teacher config (model.teacher)',
        fix=set_it)
    teacher.load_state_dict(state_dict, strict=True)
