"""AtomicCheckpointHook: a real training process killed at each point of a
checkpoint save (``max_keep_ckpts=1``) resumes and finishes, and no file
under a final name is ever truncated; mmengine's own CheckpointHook loses
the run at the same point."""
import glob
import os
import os.path as osp
import subprocess
import sys
import textwrap

import pytest
from mmengine.hooks import Hook
from mmengine.runner import Runner

from ofakd_mm.engine.hooks import atomic_checkpoint_hook as ach
from ofakd_mm.utils import fileio
from ofakd_mm.utils.checkpoint import CheckpointReadError, safe_torch_load
from conftest import REPO_ROOT, TEACHER_CFG, small_config

HOOK = dict(type='AtomicCheckpointHook', interval=1, max_keep_ckpts=1)

# Trains in a subprocess that os._exit()s (as a SIGKILL would: no cleanup,
# no flush) at the chosen point of a save. A killed write leaves half of the
# bytes on disk.
KILLED_RUN = textwrap.dedent('''
    import os, sys
    sys.path.insert(0, {tests!r})
    import ofakd_mm
    from mmengine.fileio import LocalBackend
    from mmengine.runner import Runner
    from conftest import small_config
    import mmengine.hooks.checkpoint_hook as mmengine_hook
    from ofakd_mm.engine.hooks import atomic_checkpoint_hook as ach
    from ofakd_mm.utils import fileio

    point, target, hook_type, work_dir = sys.argv[1:5]

    def write_half_and_die(data, path):
        with open(path, 'wb') as f:
            f.write(data[:len(data) // 2])
            f.flush()
        os._exit(9)

    write_temp, replace = fileio._write_temp, fileio._replace
    if point == 'write':  # while writing `target`
        def patched(data, temp):
            if temp.endswith(target + fileio.TEMP_SUFFIX):
                write_half_and_die(data, temp)
            write_temp(data, temp)
        fileio._write_temp = patched
    elif point == 'rename':  # `target` renamed, last_checkpoint not yet
        def patched(temp, path):
            replace(temp, path)
            if path.endswith(target):
                os._exit(9)
        fileio._replace = patched
    elif point == 'last_checkpoint':  # while writing it to name `target`
        def patched(data, temp):
            if temp.endswith('last_checkpoint' + fileio.TEMP_SUFFIX) and \\
                    data.decode().endswith(target):
                write_half_and_die(data, temp)
            write_temp(data, temp)
        fileio._write_temp = patched
    elif point == 'last_checkpoint_in_place':  # mmengine emptied it
        def patched_open(path, mode='r', *args, **kwargs):
            f = open(path, mode, *args, **kwargs)
            if str(path).endswith('last_checkpoint') and 'w' in mode:
                real_write = f.write
                def write(text):
                    if text.endswith(target):
                        os._exit(9)  # truncated, nothing written
                    return real_write(text)
                f.write = write
            return f
        mmengine_hook.open = patched_open
    elif point == 'remove':  # when removing `target`
        remove = ach.AtomicLocalBackend.remove
        def patched(self, path):
            if str(path).endswith(target):
                os._exit(9)
            remove(self, path)
        ach.AtomicLocalBackend.remove = patched
    elif point == 'stock-write':  # mmengine's hook, while writing `target`
        put = LocalBackend.put
        def patched(self, data, path):
            if str(path).endswith(target):
                write_half_and_die(data, path)
            put(self, data, path)
        LocalBackend.put = patched
    cfg = small_config({config!r}, work_dir, samples=16, epochs=3, **{{
        'default_hooks.checkpoint': dict(
            type=hook_type, interval=1, max_keep_ckpts=1,
            save_best=None if len(sys.argv) < 6 else sys.argv[5])}})
    Runner.from_cfg(cfg).train()
    print('not killed')
''').format(tests=osp.join(REPO_ROOT, 'tests'), config=TEACHER_CFG)


def kill_during_save(work_dir: str, point: str, target: str,
                     hook_type: str = 'AtomicCheckpointHook',
                     save_best: str = '') -> None:
    args = [sys.executable, '-c', KILLED_RUN, point, target, hook_type,
            work_dir] + ([save_best] if save_best else [])
    proc = subprocess.run(args, capture_output=True, text=True, timeout=600,
                          env=dict(os.environ, OMP_NUM_THREADS='1'))
    assert proc.returncode == 9, proc.stdout[-2000:] + proc.stderr[-3000:]


def complete_checkpoints(work_dir: str) -> list:
    """Every ``*.pth`` of the work dir, each checked to load completely."""
    names = []
    for path in sorted(glob.glob(osp.join(work_dir, '*.pth'))):
        checkpoint = safe_torch_load(path, map_location='cpu')
        assert 'state_dict' in checkpoint, path
        names.append(osp.basename(path))
    return names


def last_checkpoint(work_dir: str) -> str:
    with open(osp.join(work_dir, 'last_checkpoint')) as f:
        return osp.basename(f.read().strip())


class ResumedEpoch(Hook):
    """Records the epoch training resumes at."""

    def before_train(self, runner) -> None:
        self.epoch = runner.epoch


def resume_to_the_end(work_dir: str, save_best: str = '') -> int:
    """Resume the killed run, train to its end; the epoch it resumed at."""
    cfg = small_config(
        TEACHER_CFG, work_dir, samples=16, epochs=3, resume=True,
        **{'default_hooks.checkpoint': dict(HOOK, save_best=save_best or
                                            None)})
    runner = Runner.from_cfg(cfg)
    resumed = ResumedEpoch()
    runner.register_hook(resumed)
    runner.train()
    assert runner.epoch == 3
    return resumed.epoch


@pytest.mark.parametrize(
    'point, target, resumed_from, on_disk', [
        ('write', 'epoch_2.pth', 'epoch_1.pth', ['epoch_1.pth']),
        ('rename', 'epoch_2.pth', 'epoch_1.pth',
         ['epoch_1.pth', 'epoch_2.pth']),
        ('last_checkpoint_in_place', 'epoch_2.pth', '',
         ['epoch_1.pth', 'epoch_2.pth']),
        ('last_checkpoint', 'epoch_2.pth', 'epoch_2.pth',
         ['epoch_1.pth', 'epoch_2.pth']),
        ('remove', 'epoch_1.pth', 'epoch_2.pth',
         ['epoch_1.pth', 'epoch_2.pth']),
    ])
def test_killed_save_resumes(tmp_path, point, target, resumed_from, on_disk):
    work_dir = str(tmp_path)
    kill_during_save(work_dir, point, target)
    # No truncated file under a final name; last_checkpoint names a
    # complete checkpoint, or is empty (mmengine rewrites it in place).
    assert complete_checkpoints(work_dir) == on_disk
    assert last_checkpoint(work_dir) == resumed_from
    leftovers = glob.glob(osp.join(work_dir, '*' + fileio.TEMP_SUFFIX))
    if point in ('write', 'last_checkpoint'):
        assert len(leftovers) == 1  # the half-written file, under .tmp
    # Resumed from what last_checkpoint names; when it is empty, from the
    # newest checkpoint.
    assert resume_to_the_end(work_dir) == int((resumed_from or on_disk[-1])[6])
    assert complete_checkpoints(work_dir) == ['epoch_3.pth']
    assert last_checkpoint(work_dir) == 'epoch_3.pth'
    assert not glob.glob(osp.join(work_dir, '*' + fileio.TEMP_SUFFIX))


def test_killed_best_save_resumes(tmp_path):
    work_dir = str(tmp_path)
    kill_during_save(work_dir, 'write', 'best_accuracy_top1_epoch_1.pth',
                     save_best='auto')
    assert complete_checkpoints(work_dir) == ['epoch_1.pth']
    assert last_checkpoint(work_dir) == 'epoch_1.pth'
    resume_to_the_end(work_dir, save_best='auto')
    names = complete_checkpoints(work_dir)
    assert 'epoch_3.pth' in names and len(names) == 2, names
    assert names[0].startswith('best_accuracy_top1_epoch_')
    assert not glob.glob(osp.join(work_dir, '*' + fileio.TEMP_SUFFIX))


def test_stock_hook_loses_the_run(tmp_path):
    """The same kill with mmengine's CheckpointHook: the old checkpoint is
    already deleted, the new one truncated, resuming fails."""
    work_dir = str(tmp_path)
    kill_during_save(work_dir, 'stock-write', 'epoch_2.pth',
                     hook_type='CheckpointHook')
    assert last_checkpoint(work_dir) == 'epoch_1.pth'
    assert not osp.exists(osp.join(work_dir, 'epoch_1.pth'))
    with pytest.raises(CheckpointReadError, match='truncated'):
        safe_torch_load(osp.join(work_dir, 'epoch_2.pth'))
    cfg = small_config(TEACHER_CFG, work_dir, samples=16, epochs=3,
                       resume=True)
    with pytest.raises(FileNotFoundError, match='epoch_1.pth'):
        Runner.from_cfg(cfg).train()


def test_previous_best_removed_only_after_the_new_one_is_saved(
        tmp_path, monkeypatch):
    """With a better score every epoch, each best checkpoint replaces the
    previous one: the new file is renamed into place before the old one is
    removed."""
    from mmpretrain.evaluation import Accuracy
    scores = iter([10.0, 20.0, 30.0])
    monkeypatch.setattr(
        Accuracy, 'compute_metrics',
        lambda self, results: {'top1': next(scores)})
    events = []
    replace, remove = fileio._replace, ach.AtomicLocalBackend.remove
    monkeypatch.setattr(
        fileio, '_replace',
        lambda temp, path: (replace(temp, path),
                            events.append(('saved', osp.basename(path)))))
    monkeypatch.setattr(
        ach.AtomicLocalBackend, 'remove',
        lambda self, path: (events.append(('removed', osp.basename(path))),
                            remove(self, path)))
    cfg = small_config(
        TEACHER_CFG, str(tmp_path), samples=16, epochs=3,
        **{'default_hooks.checkpoint': dict(HOOK, save_best='auto')})
    Runner.from_cfg(cfg).train()
    for epoch in (2, 3):
        new = events.index(('saved', f'best_accuracy_top1_epoch_{epoch}.pth'))
        old = events.index(
            ('removed', f'best_accuracy_top1_epoch_{epoch - 1}.pth'))
        assert new < old
        assert events.index(('saved', f'epoch_{epoch}.pth')) < events.index(
            ('removed', f'epoch_{epoch - 1}.pth'))
    assert complete_checkpoints(str(tmp_path)) == [
        'best_accuracy_top1_epoch_3.pth', 'epoch_3.pth'
    ]


def test_found_from_mmpretrain_and_mmrazor_configs():
    """Each hook of ofakd_mm is registered once, in mmengine's root HOOKS,
    and the runner finds it under either default scope."""
    from mmengine.registry import HOOKS, DefaultScope
    from mmpretrain.registry import HOOKS as MMPRETRAIN_HOOKS
    from mmrazor.registry import HOOKS as MMRAZOR_HOOKS

    from ofakd_mm.engine.hooks import StudentEMAHook
    for registry in (MMPRETRAIN_HOOKS, MMRAZOR_HOOKS):
        hook = registry.build(dict(HOOK, save_best='auto'))
        assert isinstance(hook, ach.AtomicCheckpointHook)
        assert hook.max_keep_ckpts == 1
    for scope in ('mmpretrain', 'mmrazor'):
        with DefaultScope.overwrite_default_scope(scope):
            assert isinstance(HOOKS.build(dict(HOOK)),
                              ach.AtomicCheckpointHook)
            assert isinstance(HOOKS.build(dict(type='StudentEMAHook')),
                              StudentEMAHook)
    import ofakd_mm.engine.hooks as ours
    hooks = [name for name in ours.__all__
             if isinstance(getattr(ours, name), type)
             and issubclass(getattr(ours, name), Hook)]
    assert {'AtomicCheckpointHook', 'StudentEMAHook'} <= set(hooks)
    for name in hooks:
        homes = [registry.scope for registry in
                 [HOOKS, *HOOKS.children.values()]
                 if name in registry.module_dict]
        assert homes == ['mmengine'], name
