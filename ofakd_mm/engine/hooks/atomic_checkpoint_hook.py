import contextlib
import os
import os.path as osp
import re
from pathlib import Path
from typing import Any, Dict, Iterator, List, Union

from mmengine.dist import is_main_process
from mmengine.fileio import LocalBackend, get_file_backend, register_backend
from mmengine.hooks import CheckpointHook
from mmengine.registry import HOOKS

from ...utils.fileio import TEMP_SUFFIX, atomic_write

#: File backend name of :class:`AtomicLocalBackend`.
ATOMIC_BACKEND = 'ofakd_atomic_local'
#: Message hub key of checkpoints whose removal is pending: a run killed
#: before removing them removes them when it resumes.
PENDING_REMOVALS_KEY = 'ofakd_pending_ckpt_removals'
#: The file of the work dir that names the checkpoint to resume from.
LAST_CHECKPOINT = 'last_checkpoint'


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
    ``CheckpointHook`` saves: its removals are recorded (in ``pending`` and
    in the message hub, so that the checkpoint being saved lists them), to
    be done once the new checkpoint and ``last_checkpoint`` are on disk."""

    def __init__(self, backend: Any, pending: List[str],
                 message_hub: Any) -> None:
        self.backend = backend
        self._pending = pending
        self._message_hub = message_hub

    def remove(self, filepath: Union[str, Path]) -> None:
        self._pending.append(str(filepath))
        self._message_hub.update_info(PENDING_REMOVALS_KEY,
                                      list(self._pending))

    rmtree = remove

    def __getattr__(self, name: str) -> Any:
        return getattr(self.backend, name)


# In mmengine's root registry (as its EMAHook and CheckpointHook): found
# from configs of every scope (mmpretrain, mmrazor).
@HOOKS.register_module()
class AtomicCheckpointHook(CheckpointHook):
    """mmengine's :class:`~mmengine.hooks.CheckpointHook` that never leaves
    a run without a complete checkpoint.

    ``CheckpointHook`` (mmengine 0.10) deletes the oldest checkpoint (with
    ``max_keep_ckpts``) and the previous best one (with ``save_best``)
    *before* writing their successors, and writes files in place: a process
    killed during a save can lose every checkpoint or leave a truncated
    ``epoch_N.pth``, so that ``--resume`` fails. This hook runs mmengine's
    saving with a local file backend whose writes go to a ``*.tmp`` file
    that is then renamed (other storage backends keep their own ``put``),
    defers the removals until the new checkpoint and ``last_checkpoint``
    are on disk (``last_checkpoint`` rewritten atomically and durably
    first), records the removals still to do in the checkpoint so that a
    resumed run finishes them, and deletes stale ``*.tmp`` files when
    training starts. mmengine rewrites ``last_checkpoint`` in place after
    the checkpoint is complete: a run killed in that instant leaves it
    empty, and the next run points it at the newest checkpoint before it
    resumes. Hence a run killed at any point of a save resumes from its
    newest complete checkpoint.

    Args:
        **kwargs: Arguments of :class:`~mmengine.hooks.CheckpointHook`
            (``interval``, ``max_keep_ckpts``, ``save_best``, ...).
    """

    def before_run(self, runner) -> None:
        """Point a ``last_checkpoint`` left empty by a killed save at the
        newest checkpoint of the run (before the runner resumes from it)."""
        path = osp.join(runner.work_dir, LAST_CHECKPOINT)
        if not is_main_process() or not osp.isfile(path):
            return
        with open(path) as f:
            if f.read().strip():
                return
        out_dir = self.out_dir if self.out_dir is not None \
            else runner.work_dir
        if out_dir != runner.work_dir:  # as CheckpointHook.before_train
            out_dir = osp.join(out_dir,
                               osp.basename(runner.work_dir.rstrip(osp.sep)))
        if not osp.isdir(out_dir):
            return  # checkpoints on another storage: not ours to judge
        # Every file under a final name is complete (atomic local backend).
        pattern = re.escape(self.filename_tmpl).replace(r'\{\}', r'(\d+)')
        steps = {int(m.group(1)): name for name in os.listdir(out_dir)
                 for m in [re.fullmatch(pattern, name)] if m}
        if steps:
            newest = osp.join(out_dir, steps[max(steps)])
            atomic_write(newest.encode('utf-8'), path)
        else:
            newest = 'nothing (removed: the run starts afresh)'
            os.remove(path)
        runner.logger.warning(
            f'{path} was left empty by a run killed while saving; it now '
            f'names {newest}.')

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
                        name == LAST_CHECKPOINT + TEMP_SUFFIX
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
        in_use = self._in_use(runner)
        for path in paths:
            if path in in_use:
                continue
            if self.file_backend.isfile(path):
                self.file_backend.remove(path)
            elif self.file_backend.isdir(path):  # deepspeed checkpoints
                self.file_backend.rmtree(path)
        self._pending.clear()
        runner.message_hub.update_info(PENDING_REMOVALS_KEY, [])

    @contextlib.contextmanager
    def _removals_deferred(self, runner) -> Iterator[None]:
        """mmengine's saving code runs with removals recorded, not done."""
        if isinstance(self.file_backend, _DeferredRemoval):
            yield  # already deferred: a save within a best-checkpoint save
            return
        backend = self.file_backend
        self.file_backend = _DeferredRemoval(backend, self._pending,
                                             runner.message_hub)
        try:
            yield
        finally:
            self.file_backend = backend

    def _save_checkpoint_with_step(self, runner, step: int,
                                   meta: Dict[str, Any]) -> None:
        """mmengine's save, its removal of the oldest checkpoint deferred
        until the new one and ``last_checkpoint`` are on disk."""
        with self._removals_deferred(runner):
            super()._save_checkpoint_with_step(runner, step, meta)
        if not is_main_process() or isinstance(self.file_backend,
                                               _DeferredRemoval):
            return
        # mmengine rewrote last_checkpoint in place; make it durable before
        # the checkpoint it named until now may be removed.
        atomic_write(
            str(self.last_ckpt).encode('utf-8'),
            osp.join(runner.work_dir, LAST_CHECKPOINT))
        self._remove_outdated(runner, list(self._pending))

    def _save_best_checkpoint(self, runner, metrics: Dict[str, Any]) -> None:
        """mmengine's ``save_best`` logic, its removal of the previous best
        checkpoint deferred until the new one is saved."""
        with self._removals_deferred(runner):
            super()._save_best_checkpoint(runner, metrics)
        if not is_main_process() or not self._pending:
            return
        if self.last_ckpt is not None:
            # The parent re-saved the last checkpoint (it lists the pending
            # removals): name it durably before removing anything.
            atomic_write(
                str(self.last_ckpt).encode('utf-8'),
                osp.join(runner.work_dir, LAST_CHECKPOINT))
        self._remove_outdated(runner, list(self._pending))
