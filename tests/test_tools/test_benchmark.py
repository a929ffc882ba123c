"""tools/analysis/benchmark.py on a small digits OFA-KD config: the JSON a
user compares runs with (no timing assertions)."""
import importlib.util
import json
import os.path as osp

import pytest
from mmengine.config import Config

from conftest import CONFIG_DIR, REPO_ROOT

OFA_QUICKSTART_CFG = osp.join(
    CONFIG_DIR, 'quickstart',
    'ofa_resnet18-w16_vit-d64-l8_1xb32-40e_digits20shot.py')
KD_QUICKSTART_CFG = osp.join(
    CONFIG_DIR, 'quickstart',
    'kd_resnet18-w16_mixer-d64-l8_1xb32-40e_digits20shot.py')


def load_benchmark():
    spec = importlib.util.spec_from_file_location(
        'benchmark', osp.join(REPO_ROOT, 'tools', 'analysis',
                              'benchmark.py'))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_benchmark_writes_json(tmp_path, capsys):
    bm = load_benchmark()
    out = tmp_path / 'bench.json'
    bm.main([OFA_QUICKSTART_CFG, '--batch-size', '4', '--iters', '2',
             '--warmup', '1', '--json', str(out)])
    with open(out) as f:
        result = json.load(f)
    for key in ('student_s', 'teacher_s', 'branches_s', 'distill_s',
                'overhead_ratio', 'floor_ratio'):
        assert isinstance(result[key], float) and result[key] > 0
    assert result['floor_ratio'] < result['overhead_ratio']
    assert set(result['peak_mem_mb']) == {'student', 'teacher', 'branches',
                                          'distill'}
    assert all(v >= 0 for v in result['peak_mem_mb'].values())
    assert result['input_size'] == [16, 16]
    assert result['batch_size'] == 4
    assert result['amp'] is None and result['channels_last'] is False
    assert 'cuda_syncs' not in result  # counted on CUDA only
    assert 'overhead ratio' in capsys.readouterr().out


def test_benchmark_options(tmp_path):
    bm = load_benchmark()
    result = bm.main([OFA_QUICKSTART_CFG, '--batch-size', '2', '--iters',
                      '1', '--warmup', '0', '--channels-last'])
    assert result['channels_last'] is True
    with pytest.raises(ValueError, match='needs --device cuda'):
        bm.main([OFA_QUICKSTART_CFG, '--amp', 'bf16'])


def test_input_size_from_the_train_pipeline():
    bm = load_benchmark()
    # A KD config has no input_size: the pipeline's crop decides.
    assert bm.infer_input_size(Config.fromfile(KD_QUICKSTART_CFG)) == (16, 16)
