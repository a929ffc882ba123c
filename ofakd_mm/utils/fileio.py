"""The one atomic file writer of the package (checkpoints, the
``last_checkpoint`` of a run, released models and configs)."""
import os
import os.path as osp
from pathlib import Path
from typing import Union

#: Suffix of the file that :func:`atomic_write` writes before renaming it
#: to its final name.
TEMP_SUFFIX = '.tmp'


def _write_temp(data: bytes, temp: str) -> None:
    """Write ``data`` to ``temp`` and flush it to the disk."""
    with open(temp, 'wb') as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())


def _replace(temp: str, filepath: str) -> None:
    """Rename ``temp`` over ``filepath`` (atomic on POSIX and Windows) and
    flush the directory entry."""
    os.replace(temp, filepath)
    if hasattr(os, 'O_DIRECTORY'):  # POSIX: make the rename durable
        fd = os.open(osp.dirname(filepath) or '.', os.O_DIRECTORY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def atomic_write(data: bytes, filepath: Union[str, Path]) -> None:
    """Write ``data`` to ``filepath`` through ``filepath + '.tmp'`` and a
    rename, both flushed to the disk, so that ``filepath`` is either its old
    content or complete, even after a crash.

    Args:
        data (bytes): The content.
        filepath (str | Path): The final file name; missing folders are
            created.
    """
    filepath = str(filepath)
    os.makedirs(osp.dirname(osp.abspath(filepath)), exist_ok=True)
    temp = filepath + TEMP_SUFFIX
    _write_temp(data, temp)
    _replace(temp, filepath)
