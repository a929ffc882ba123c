import os
import os.path as osp
from pathlib import Path
from typing import Any, Dict, List, Union

from mmengine.dist import is_main_process
from mmengine.fileio import LocalBackend, get_file_backend, register_backend
from mmengine.hooks import CheckpointHook
from mmengine.utils import mkdir_or_exist
from mmpretrain.registry import HOOKS as MMPRETRAIN_HOOKS
from mmrazor.registry import HOOKS as MMRAZOR_HOOKS

#: Suffix of the file a checkpoint (or ``last_checkpoint``) is written to
#: before it is renamed to its final name.
TEMP_SUFFIX = '.tmp'
#: File backend name of :class:`AtomicLocalBackend`.
ATOMIC_BACKEND = 'ofakd_atomic_local'
#: Message hub key of checkpoints whose removal is pending: a run killed
#: before removing them removes them when it resumes.
PENDING_REMOVALS_KEY = 'ofakd_pending_ckpt_removals'


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
    rename, so that ``filepath`` is either its old content or complete.

    Args:
        data (bytes): The content.
        filepath (str | Path): The final file name.
    """
    filepath = str(filepath)
    mkdir_or_exist(osp.dirname(osp.abspath(filepath)))
    temp = filepath + TEMP_SUFFIX
    _write_temp(data, temp)
    _replace(temp, filepath)


@register_backend(ATOMIC_BACKEND)
class AtomicLocalBackend(LocalBackend):
    """mmengine's local file backend whose writes are atomic
    (:func:`atomic_write`): a process killed while writing leaves a
    ``*.tmp`` file, never a truncated file under the final name."""

    def put(self, obj: bytes, filepath: Union[str, Path]) -> None:
        atomic_write(obj, filepath)

    def put_text(self,
                 obj: str,
                 filepath: Union[str, Path],
                 encoding: str = 'utf-8') -> None:
        atomic_write(obj.encode(encoding), filepath)


class _DeferredRemoval:
    """Stands in for the hook's file backend while mmengine's
    ``_save_best_checkpoint`` runs: its removals are recorded, to be done
    once the new checkpoint is on disk."""

    def __init__(self, backend: Any, pending: List[str]) -> None:
        self.backend = backend
        self._pending = pending

    def remove(self, filepath: Union[str, Path]) -> None:
        self._pending.append(str(filepath))

    rmtree = remove

    def __getattr__(self, name: str) -> Any:
        return getattr(self.backend, name)


@MMRAZOR_HOOKS.register_module()
@MMPRETRAIN_HOOKS.register_module()
class AtomicCheckpointHook(CheckpointHook):
    """mmengine's :class:`~mmengine.hooks.CheckpointHook` that never leaves
    a run without a complete checkpoint.

    ``CheckpointHook`` (mmengine 0.10) deletes the oldest checkpoint (with
    ``max_keep_ckpts``) and the previous best one (with ``save_best``)
    *before* writing their successors, writes files in place, and rewrites
    ``last_checkpoint`` in place: a process killed during a save can lose
    every checkpoint, leave a truncated ``epoch_N.pth``, or leave
    ``last_checkpoint`` naming a deleted or empty file, so that ``--resume``
    fails. This hook writes checkpoints and ``last_checkpoint`` to a
    ``*.tmp`` file that is then renamed (local directories; other storage
    backends keep their own ``put``), removes outdated checkpoints only
    after their successor and ``last_checkpoint`` are on disk, records the
    removals still to do in the checkpoint so a resumed run finishes them,
    and deletes stale ``*.tmp`` files when training starts. Hence
    ``last_checkpoint`` always names a complete checkpoint, and a run killed
    at any point of a save resumes from the newest complete one.

    Args:
        **kwargs: Arguments of :class:`~mmengine.hooks.CheckpointHook`
            (``interval``, ``max_keep_ckpts``, ``save_best``, ...).
    """

    def before_train(self, runner) -> None:
        """Use the atomic local backend, then clean what a killed run left:
        temporary files and checkpoints whose removal was pending."""
        out_dir = self.out_dir if self.out_dir is not None \
            else runner.work_dir
        if self.backend_args is None and self.file_client_args is None \
                and isinstance(get_file_backend(out_dir), LocalBackend):
            self.backend_args = dict(backend=ATOMIC_BACKEND)
        super().before_train(runner)
        self._pending: List[str] = []
        if not is_main_process():
            return
        self._remove_stale_temp_files(runner)
        pending = runner.message_hub.get_info(PENDING_REMOVALS_KEY) or []
        self._remove_outdated(runner, list(pending))

    def _remove_stale_temp_files(self, runner) -> None:
        if not isinstance(self.file_backend, LocalBackend):
            return
        for folder in {str(self.out_dir), runner.work_dir}:
            if not osp.isdir(folder):
                continue
            for name in os.listdir(folder):
                path = osp.join(folder, name)
                if name.endswith(TEMP_SUFFIX) and osp.isfile(path) and (
                        name == 'last_checkpoint' + TEMP_SUFFIX
                        or name.endswith('.pth' + TEMP_SUFFIX)):
                    os.remove(path)
                    runner.logger.info(
                        f'Removed {path}, left by a save that did not finish.')

    def _in_use(self, runner) -> set:
        """Checkpoints that must stay: the last, the kept and the best."""
        used = {str(self.last_ckpt)} if getattr(self, 'last_ckpt', None) \
            else set()
        for key, value in runner.message_hub.runtime_info.items():
            if key == 'last_ckpt' or key.startswith('best_ckpt'):
                used.add(str(value))
        for step in getattr(self, 'keep_ckpt_ids', ()):
            used.add(
                self.file_backend.join_path(self.out_dir,
                                            self.filename_tmpl.format(step)))
        return used

    def _remove_outdated(self, runner, paths: List[str]) -> None:
        """Remove ``paths`` (all but those still in use) and clear the
        pending removals."""
        backend = self.file_backend
        if isinstance(backend, _DeferredRemoval):
            backend = backend.backend
        in_use = self._in_use(runner)
        for path in paths:
            if path in in_use:
                continue
            if backend.isfile(path):
                backend.remove(path)
            elif backend.isdir(path):  # deepspeed checkpoints
                backend.rmtree(path)
        runner.message_hub.update_info(PENDING_REMOVALS_KEY, [])

    def _write_last_checkpoint(self, runner) -> None:
        atomic_write(
            str(self.last_ckpt).encode('utf-8'),
            osp.join(runner.work_dir, 'last_checkpoint'))

    def _save_checkpoint_with_step(self, runner, step: int,
                                   meta: Dict[str, Any]) -> None:
        """Save ``filename_tmpl.format(step)``, then ``last_checkpoint``,
        then remove the checkpoints it makes outdated (the parent's order
        is the reverse)."""
        outdated: List[str] = []
        if self.max_keep_ckpts > 0 and not (self.keep_ckpt_ids and
                                            self.keep_ckpt_ids[-1] == step):
            if len(self.keep_ckpt_ids) == self.max_keep_ckpts:
                outdated.append(
                    self.file_backend.join_path(
                        self.out_dir,
                        self.filename_tmpl.format(
                            self.keep_ckpt_ids.popleft())))
            self.keep_ckpt_ids.append(step)
            runner.message_hub.update_info('keep_ckpt_ids',
                                           list(self.keep_ckpt_ids))
        pending = self._pending + outdated
        self._pending = []
        # Saved with the checkpoint: a resumed run removes what this one
        # could not.
        runner.message_hub.update_info(PENDING_REMOVALS_KEY, pending)

        ckpt_filename = self.filename_tmpl.format(step)
        self.last_ckpt = self.file_backend.join_path(self.out_dir,
                                                     ckpt_filename)
        runner.message_hub.update_info('last_ckpt', self.last_ckpt)
        runner.save_checkpoint(
            self.out_dir,
            ckpt_filename,
            self.file_client_args,
            save_optimizer=self.save_optimizer,
            save_param_scheduler=self.save_param_scheduler,
            meta=meta,
            by_epoch=self.by_epoch,
            backend_args=self.backend_args,
            **self.args)
        if not is_main_process():
            return
        self._write_last_checkpoint(runner)
        self._remove_outdated(runner, pending)

    def _save_best_checkpoint(self, runner, metrics: Dict[str, Any]) -> None:
        """The parent's ``save_best`` logic, its removal of the previous best
        checkpoint deferred until the new one is saved."""
        backend = self.file_backend
        self.file_backend = _DeferredRemoval(backend, self._pending)
        try:
            super()._save_best_checkpoint(runner, metrics)
        finally:
            self.file_backend = backend
        # After a new best checkpoint the parent re-saves the last one, which
        # does the pending removals; without a last checkpoint, do them here.
        if self._pending and is_main_process():
            self._remove_outdated(runner, self._pending)
        self._pending = []
