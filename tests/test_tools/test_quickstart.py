"""tools/quickstart.py end to end in a tiny setting: the teacher trained once
and cached, every student variant trained and tested through mmengine's
Runner in worker processes with pinned numerics, a results table whose
figures are those of the saved weights, a PNG of the validation curves,
and bit-identical weights whatever the number of workers and the caller's
thread / CPU settings."""
import glob
import json
import os
import os.path as osp
import sys
from types import ModuleType

import pytest
from mmengine.config import Config
from mmengine.runner import Runner

from ofakd_mm.utils.experiment import ACC_KEY, set_max_epochs
from ofakd_mm.utils.reproducibility import weights_sha256
from conftest import DIGITS_DIR, REPO_ROOT

TINY = ['--seeds', '1', '--epochs', '2', '--teacher-epochs', '1',
        '--samples', '32', '--batch-size', '16']


def load_quickstart() -> ModuleType:
    # The tool is a script of tools/, not a module of the package.
    tools = osp.join(REPO_ROOT, 'tools')
    if tools not in sys.path:
        sys.path.insert(0, tools)
    import quickstart
    return quickstart


def test_quickstart_table_plot_cache_and_reproducibility(tmp_path,
                                                         monkeypatch):
    qs = load_quickstart()
    monkeypatch.delenv('ATEN_CPU_CAPABILITY', raising=False)
    work_dir = str(tmp_path / 'qs')
    out = qs.run_quickstart(
        qs.parse_args(['--work-dir', work_dir, '--jobs', '2', *TINY]))

    assert not out['teacher']['cached']
    assert len(out['results']) == 6  # 2 students x 3 variants
    for runs in out['results'].values():
        run, = runs
        assert run['val_curve'][-1][0] == 2  # validated at the end
        assert run['val_curve'][-1][1] == run['val_top1']
        assert run['numerics'] == dict(
            out['teacher']['numerics'], cpu_capability='DEFAULT',
            threads=1, mkldnn=False, nnpack=False,
            mkl_cbwr='COMPATIBLE')
    # the caller's environment is left as it was
    assert 'ATEN_CPU_CAPABILITY' not in os.environ
    table = out['table']
    assert table.startswith('TEST top-1')
    for word in ('scratch', 'KD', 'OFA-KD', 'ViT-d64-l8', 'Mixer-d64-l8',
                 'teacher'):
        assert word in table
    with open(out['plot'], 'rb') as f:
        assert f.read(8) == b'\x89PNG\r\n\x1a\n'
    with open(osp.join(work_dir, 'results.md')) as f:
        assert f.read().strip() == table
    with open(osp.join(work_dir, 'results.json')) as f:
        saved = json.load(f)
    assert len(saved['runs']) == 6
    assert saved['fingerprint'] == out['fingerprint']
    # The reported test top-1 and weights are those of the saved checkpoint,
    # evaluated again by a runner of this process.
    teacher = out['teacher']
    for (student, variant), (run, ) in [
            (('teacher', ''), (teacher, )),
            *sorted(out['results'].items())[::2]]:
        path = qs.TEACHER_CONFIG if student == 'teacher' else \
            qs.STUDENT_CONFIGS[(student, variant)]
        again = tmp_path / 'again' / student / variant
        cfg = qs.build_config(path, str(again), samples=32)
        cfg.env_cfg.mp_cfg.mp_start_method = 'fork'  # no worker processes
        cfg.load_from = run['checkpoint']
        if 'teacher_ckpt' in cfg.model:
            cfg.model.teacher_ckpt = teacher['checkpoint']
        runner = Runner.from_cfg(cfg)
        metrics = runner.test()
        assert metrics[ACC_KEY] == pytest.approx(run['test_top1']), student
        assert weights_sha256(runner.model) == run['weights_sha256']

    # Same settings: nothing is retrained.
    again = qs.run_quickstart(qs.parse_args(
        ['--work-dir', work_dir, '--students', 'vit', '--jobs', '1', *TINY]))
    assert again['teacher']['cached']
    assert all(r['cached'] for rs in again['results'].values() for r in rs)

    # Elsewhere, from scratch, in one worker, with other thread and CPU
    # settings in the caller: the same weights, bit for bit.
    monkeypatch.setenv('OMP_NUM_THREADS', '2')
    monkeypatch.setenv('ATEN_CPU_CAPABILITY', 'avx2')
    other = qs.run_quickstart(qs.parse_args(
        ['--work-dir', str(tmp_path / 'other'), '--jobs', '1', '--students',
         'vit', '--variants', 'ofa', *TINY]))
    assert os.environ['ATEN_CPU_CAPABILITY'] == 'avx2'
    assert other['teacher']['weights_sha256'] == \
        out['teacher']['weights_sha256']
    run, = other['results'][('vit', 'ofa')]
    first, = out['results'][('vit', 'ofa')]
    assert run['weights_sha256'] == first['weights_sha256']
    assert run['val_curve'] == first['val_curve']

    # A changed teacher config retrains the teacher and its students.
    changed = TINY[:TINY.index('--teacher-epochs') + 1] + ['2'] + \
        TINY[TINY.index('--teacher-epochs') + 2:]
    retrained = qs.run_quickstart(qs.parse_args(
        ['--work-dir', work_dir, '--students', 'vit', '--variants', 'kd',
         '--jobs', '1', *changed]))
    assert not retrained['teacher']['cached']
    run, = retrained['results'][('vit', 'kd')]
    assert not run['cached']
    assert retrained['teacher']['checkpoint'].endswith('epoch_2.pth')
    assert run['weights_sha256'] != \
        out['results'][('vit', 'kd')][0]['weights_sha256']


def test_set_max_epochs_stretches_the_schedule():
    qs = load_quickstart()
    cfg = Config.fromfile(qs.STUDENT_CONFIGS[('vit', 'ofa')])
    set_max_epochs(cfg, 60)
    warmup, cosine = cfg.param_scheduler
    assert (cosine.begin, cosine.end, cosine.T_max) == (2, 60, 58)
    assert warmup.end == 2
    assert cfg.train_cfg.max_epochs == 60
    set_max_epochs(cfg, 1)
    warmup, = cfg.param_scheduler  # the cosine would start after the end
    assert warmup.end == 1 and cfg.train_cfg.max_epochs == 1


def test_every_student_config_is_a_digits_config():
    qs = load_quickstart()
    for (student, variant), path in qs.STUDENT_CONFIGS.items():
        cfg = Config.fromfile(path)
        assert cfg.train_dataloader.dataset.per_class == 20, path
        assert cfg.train_cfg.max_epochs == 40, path
        distill = variant != 'scratch'
        assert ('teacher_ckpt' in cfg.model) == distill, path


@pytest.mark.parametrize(
    'path', sorted(glob.glob(osp.join(DIGITS_DIR, '*.py'))),
    ids=osp.basename)
def test_dumped_digits_config_holds_one_model(path, tmp_path):
    cfg = Config.fromfile(path)
    dumped = str(tmp_path / 'dumped.py')
    cfg.dump(dumped)
    again = Config.fromfile(dumped)

    def is_model(value):
        return isinstance(value, dict) and (
            'backbone' in value or 'architecture' in value
            or value.get('type') == 'ImageClassifier')

    assert is_model(again.model)
    assert [k for k, v in again.items() if k != 'model' and is_model(v)
            ] == []
    assert again.model.to_dict() == cfg.model.to_dict()


@pytest.mark.parametrize('argv', [['--jobs', '0'], ['--seeds', '0']])
def test_bad_counts_are_rejected(argv):
    qs = load_quickstart()
    with pytest.raises(SystemExit):
        qs.parse_args(argv)
