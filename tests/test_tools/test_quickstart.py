"""tools/quickstart.py end to end in a tiny setting: the teacher trained once
and cached, every student variant trained and tested through mmengine's
Runner, a results table and a PNG of the validation curves."""
import importlib.util
import json
import os.path as osp
from types import ModuleType

from mmengine.config import Config

from conftest import REPO_ROOT

TINY = ['--seeds', '1', '--epochs', '2', '--teacher-epochs', '1',
        '--samples', '32', '--batch-size', '16']


def load_quickstart() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        'quickstart', osp.join(REPO_ROOT, 'tools', 'quickstart.py'))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_quickstart_table_plot_and_teacher_cache(tmp_path):
    qs = load_quickstart()
    work_dir = str(tmp_path / 'qs')
    out = qs.run_quickstart(qs.parse_args(['--work-dir', work_dir, *TINY]))

    assert not out['teacher']['cached']
    assert len(out['results']) == 6  # 2 students x 3 variants
    for runs in out['results'].values():
        run, = runs
        assert [e for e, _ in run['val_curve']] == [1, 2]
        assert 0 <= run['test_top1'] <= 100
    table = out['table']
    assert table.startswith('TEST top-1')
    for word in ('scratch', 'KD', 'OFA-KD', 'ViT-d64', 'Mixer-d64',
                 'teacher'):
        assert word in table
    with open(out['plot'], 'rb') as f:
        assert f.read(8) == b'\x89PNG\r\n\x1a\n'
    with open(osp.join(work_dir, 'results.md')) as f:
        assert f.read().strip() == table
    with open(osp.join(work_dir, 'results.json')) as f:
        assert len(json.load(f)['runs']) == 6

    # Same settings: nothing is retrained.
    again = qs.run_quickstart(qs.parse_args(
        ['--work-dir', work_dir, '--students', 'vit', *TINY]))
    assert again['teacher']['cached']
    assert all(r['cached'] for rs in again['results'].values() for r in rs)

    # A changed teacher config retrains the teacher and its students.
    changed = TINY[:TINY.index('--teacher-epochs') + 1] + ['2'] + \
        TINY[TINY.index('--teacher-epochs') + 2:]
    retrained = qs.run_quickstart(qs.parse_args(
        ['--work-dir', work_dir, '--students', 'vit', '--variants', 'kd',
         *changed]))
    assert not retrained['teacher']['cached']
    run, = retrained['results'][('vit', 'kd')]
    assert not run['cached']
    assert retrained['teacher']['checkpoint'].endswith('epoch_2.pth')


def test_set_max_epochs_stretches_the_schedule():
    qs = load_quickstart()
    cfg = Config.fromfile(qs.STUDENT_CONFIGS[('vit', 'ofa')])
    qs.set_max_epochs(cfg, 60)
    warmup, cosine = cfg.param_scheduler
    assert (cosine.begin, cosine.end, cosine.T_max) == (2, 60, 58)
    assert warmup.end == 2
    assert cfg.default_hooks.checkpoint.interval == 60
    qs.set_max_epochs(cfg, 1)
    warmup, = cfg.param_scheduler  # the cosine would start after the end
    assert warmup.end == 1 and cfg.train_cfg.max_epochs == 1
