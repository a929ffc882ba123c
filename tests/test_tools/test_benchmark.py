"""The benchmark (ofakd_mm.utils.benchmark, tools/analysis/benchmark.py) on
a small digits OFA-KD config: the JSON a user compares runs with (no timing
assertions), and the image size it reads from a config."""
import json
import os.path as osp

import pytest
from mmengine.config import Config

from ofakd_mm.models.utils import train_image_size
from ofakd_mm.utils.benchmark import benchmark_config
from conftest import CONFIG_DIR, REPO_ROOT, run_main

OFA_QUICKSTART_CFG = osp.join(
    CONFIG_DIR, 'quickstart',
    'ofa_resnet18-w16_vit-d64-l8_1xb32-40e_digits20shot.py')
KD_QUICKSTART_CFG = osp.join(
    CONFIG_DIR, 'quickstart',
    'kd_resnet18-w16_mixer-d64-l8_1xb32-40e_digits20shot.py')
BENCHMARK = osp.join(REPO_ROOT, 'tools', 'analysis', 'benchmark.py')


def test_benchmark_writes_json(tmp_path, capsys):
    out = tmp_path / 'bench.json'
    assert run_main(BENCHMARK, OFA_QUICKSTART_CFG, '--batch-size', '4',
                    '--iters', '2', '--warmup', '1', '--json',
                    str(out)) is None
    with open(out) as f:
        result = json.load(f)
    times = {k: result[f'{k}_s']
             for k in ('student', 'teacher', 'branches', 'distill')}
    assert all(isinstance(t, float) and t > 0 for t in times.values())
    # the ratios are those the README defines, of the times reported
    assert result['overhead_ratio'] == pytest.approx(
        times['distill'] / (times['student'] + times['teacher']), rel=2e-3)
    assert result['floor_ratio'] == pytest.approx(
        times['distill'] / (times['student'] + times['teacher'] +
                            times['branches']), rel=2e-3)
    assert result['distill_img_s'] == pytest.approx(
        4 / times['distill'], rel=2e-3, abs=0.06)
    assert set(result['peak_mem_mb']) == set(times)
    assert all(v >= 0 for v in result['peak_mem_mb'].values())
    assert result['input_size'] == [16, 16]
    assert result['batch_size'] == 4
    assert result['collate_fn'] == 'default_collate'
    assert result['ema'] is False
    assert result['amp'] is None and result['channels_last'] is False
    assert 'cuda_syncs' not in result  # counted on CUDA only
    assert 'overhead ratio' in capsys.readouterr().out


def test_benchmark_options():
    result = benchmark_config(
        OFA_QUICKSTART_CFG, batch_size=2, iters=1, warmup=0,
        channels_last=True, cfg_options={'model.distiller.stages': [4]})
    assert result['channels_last'] is True
    # one exit branch instead of four: fewer trainable parameters
    full = benchmark_config(OFA_QUICKSTART_CFG, batch_size=2, iters=1,
                            warmup=0)
    assert result['params_m']['distill_trainable'] < \
        full['params_m']['distill_trainable']
    with pytest.raises(ValueError, match='needs a CUDA device'):
        benchmark_config(OFA_QUICKSTART_CFG, amp='bf16')


def test_input_size_of_a_non_square_pipeline():
    # mmpretrain's crops take (h, w), mmcv's Resize (w, h).
    cfg = Config.fromfile(KD_QUICKSTART_CFG)
    assert 'input_size' not in cfg.model
    assert train_image_size(cfg) == (16, 16)
    cfg.train_dataloader.dataset.pipeline[1] = dict(
        type='RandomCrop', crop_size=(12, 16))
    assert train_image_size(cfg) == (12, 16)
    cfg.train_dataloader.dataset.pipeline = [
        dict(type='Resize', scale=(20, 10)), dict(type='PackInputs')]
    assert train_image_size(cfg) == (10, 20)
    cfg.model.input_size = [8, 24]
    assert train_image_size(cfg) == (8, 24)
