"""tools/train.py, tools/test.py and tools/dist_train.sh as a user runs
them (subprocesses, real Runner, real torchrun/gloo)."""
import glob
import json
import os
import os.path as osp
import socket
import subprocess
import sys

import mmpretrain
import pytest
import torch

from conftest import KD_DIGITS_CFG, OFA_DIGITS_CFG, REPO_ROOT

SMALL = [
    'train_dataloader.dataset.indices=32', 'train_dataloader.batch_size=16',
    'val_dataloader.dataset.indices=32', 'test_dataloader.dataset.indices=64',
    'default_hooks.checkpoint.interval=1', 'train_cfg.val_interval=1',
    'log_level=INFO'
]


def run(args, timeout=600, **env_vars):
    env = dict(os.environ, **env_vars)
    env.setdefault('OMP_NUM_THREADS', '1')
    result = subprocess.run(args, cwd=REPO_ROOT, capture_output=True,
                            text=True, timeout=timeout, env=env)
    assert result.returncode == 0, result.stdout[-3000:] + \
        result.stderr[-3000:]
    return result.stdout + result.stderr


def free_port() -> int:
    """A TCP port nobody listens on now (another torchrun may hold the
    default 29500)."""
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def test_train_resume_and_test(tmp_path, digits_teacher_ckpt):
    work_dir = str(tmp_path)
    common = ['--work-dir', work_dir, '--cfg-options', *SMALL,
              f'model.teacher_ckpt={digits_teacher_ckpt}']
    run([sys.executable, 'tools/train.py', KD_DIGITS_CFG, *common,
         'train_cfg.max_epochs=1'])
    assert osp.isfile(osp.join(work_dir, 'epoch_1.pth'))

    log = run([sys.executable, 'tools/train.py', KD_DIGITS_CFG, '--resume',
               *common, 'train_cfg.max_epochs=2'])
    assert 'resumed epoch: 1, iter: 2' in log
    assert osp.isfile(osp.join(work_dir, 'epoch_2.pth'))

    out = osp.join(work_dir, 'metrics.json')
    log = run([
        sys.executable, 'tools/test.py', KD_DIGITS_CFG,
        osp.join(work_dir, 'epoch_2.pth'), '--work-dir', work_dir, '--out',
        out, '--cfg-options', *SMALL,
        f'model.teacher_ckpt={digits_teacher_ckpt}'
    ])
    with open(out) as f:
        metrics = json.load(f)
    assert 0 <= metrics['accuracy/top1'] <= 100
    assert 'accuracy/top1' in log


@pytest.mark.skipif(
    torch.cuda.is_available() and torch.cuda.device_count() < 2,
    reason='2 processes need 2 GPUs on a CUDA host (nccl); '
    'tests/test_cuda.py runs torchrun on the GPUs there')
def test_dist_train_two_processes(tmp_path, digits_teacher_ckpt):
    """2-process torchrun (gloo on CPU); distillation stops after the first
    epoch (mmrazor's StopDistillHook) and DDP trains on without it. The venv
    is not activated: the script runs torchrun of the $PYTHON it is
    given, with no torchrun on the PATH."""
    work_dir = str(tmp_path)
    without_torchrun = os.pathsep.join(
        p for p in os.environ['PATH'].split(os.pathsep)
        if not osp.isfile(osp.join(p, 'torchrun')))
    config = osp.join(work_dir, 'ofa_stop_after_1e.py')
    with open(config, 'w') as f:
        f.write(f"_base_ = {OFA_DIGITS_CFG!r}\n"
                "custom_hooks = [dict(type='mmrazor.StopDistillHook', "
                "stop_epoch=1)]\n")
    log = run([
        'bash', 'tools/dist_train.sh', config, '2', '--work-dir',
        work_dir, '--cfg-options', *SMALL, 'train_cfg.max_epochs=2',
        'train_dataloader.dataset.indices=64',
        f'model.teacher_ckpt={digits_teacher_ckpt}'
    ], timeout=900, PORT=str(free_port()), PYTHON=sys.executable,
        PATH=without_torchrun)
    assert osp.isfile(osp.join(work_dir, 'epoch_2.pth'))
    logs = glob.glob(osp.join(work_dir, '*', '*.log'))
    text = open(logs[0]).read()
    assert 'Distributed training: True' in text
    assert 'GPU number: 2' in text  # mmengine's name for the world size
    # 64 images, batch 16 per process: two iterations per epoch on 2 ranks
    # (DDP reports parameters without gradient at the step after)
    first, second = text.split('Distillation has been stopped!')
    assert 'Epoch(train) [1][2/2]' in first and 'loss_ofa_stage1' in first
    assert 'Epoch(train) [2][2/2]' in second
    assert 'distill.loss_stopped: 0.0000' in second
    assert 'Traceback' not in log


def test_mmpretrain_train_script_with_custom_imports(tmp_path,
                                                     digits_teacher_ckpt):
    script = osp.join(osp.dirname(mmpretrain.__file__), '.mim', 'tools',
                      'train.py')
    run([
        sys.executable, script, OFA_DIGITS_CFG, '--work-dir',
        str(tmp_path), '--no-persistent-workers', '--cfg-options', *SMALL,
        'train_cfg.max_epochs=1', f'model.teacher_ckpt={digits_teacher_ckpt}'
    ])
    assert osp.isfile(osp.join(tmp_path, 'epoch_1.pth'))


def test_amp_without_gpu_names_the_setting(tmp_path):
    if torch.cuda.is_available():
        pytest.skip('AMP runs on this machine')
    result = subprocess.run(
        [sys.executable, 'tools/train.py', KD_DIGITS_CFG, '--amp',
         '--work-dir', str(tmp_path)], cwd=REPO_ROOT, capture_output=True,
        text=True, timeout=300)
    assert result.returncode != 0
    assert 'Mixed precision (--amp' in result.stderr
    assert 'needs a GPU' in result.stderr and 'Traceback' not in \
        result.stderr
    assert not os.listdir(tmp_path)  # stopped before the Runner started


def test_input_size_other_than_the_crop_stops_train(tmp_path):
    result = subprocess.run(
        [sys.executable, 'tools/train.py', OFA_DIGITS_CFG, '--work-dir',
         str(tmp_path), '--cfg-options', 'model.input_size=32'],
        cwd=REPO_ROOT, capture_output=True, text=True, timeout=300)
    assert result.returncode != 0
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith('ValueError') and 'input_size' in last
    assert not os.listdir(tmp_path)  # stopped before the Runner started
