"""What only a CUDA host can check: a distillation training step with AMP
(bf16 and fp16), the OFA-KD loss under autocast, and a torchrun run on the
GPU(s). Skipped on machines without CUDA (CI); run them on a GPU host with
``python -m pytest tests/test_cuda.py -q``."""
import glob
import os
import os.path as osp
import subprocess
import sys

import pytest
import torch
from mmengine.optim import build_optim_wrapper
from mmengine.runner import Runner
from mmpretrain.structures import DataSample
from mmrazor.registry import MODELS

from ofakd_mm.models.losses import OFAKDLoss
from conftest import OFA_DIGITS_CFG, REPO_ROOT, small_config

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(),
                                reason='needs a CUDA GPU')
DTYPES = [torch.bfloat16, torch.float16]


@pytest.mark.parametrize('dtype', DTYPES, ids=['bf16', 'fp16'])
def test_loss_under_autocast_matches_fp32(dtype):
    g = torch.Generator().manual_seed(0)
    z_s = (torch.randn(8, 100, generator=g) * 20).cuda().requires_grad_()
    z_t = (torch.randn(8, 100, generator=g) * 20).cuda()
    labels = torch.randint(0, 100, (8, ), generator=g).cuda()
    loss = OFAKDLoss(eps=1.5)
    reference = loss(z_s, z_t, labels)
    with torch.autocast('cuda', dtype=dtype):
        # logits as a half-precision linear layer would give them
        got = loss(z_s.to(dtype), z_t.to(dtype), labels)
    assert got.dtype == torch.float32
    torch.testing.assert_close(got, reference, rtol=2e-2, atol=2e-2)
    got.backward()
    assert torch.isfinite(z_s.grad).all()


def _batch(size, num_classes):
    g = torch.Generator().manual_seed(0)
    inputs = [torch.randint(0, 256, (3, size, size), dtype=torch.uint8,
                            generator=g) for _ in range(4)]
    samples = [DataSample().set_gt_label(i % num_classes) for i in range(4)]
    return dict(inputs=inputs, data_samples=samples)


@pytest.mark.parametrize('dtype', ['bfloat16', 'float16'])
def test_distillation_step_with_amp(dtype, digits_teacher_ckpt):
    cfg = small_config(OFA_DIGITS_CFG, '/tmp/unused',
                       **{'model.teacher_ckpt': digits_teacher_ckpt})
    cfg.model.setdefault('data_preprocessor', cfg.data_preprocessor)
    algo = MODELS.build(cfg.model).cuda()
    algo.init_weights()
    algo.train()
    wrapper = build_optim_wrapper(
        algo, dict(type='AmpOptimWrapper', dtype=dtype,
                   optimizer=dict(type='AdamW', lr=1e-3)))
    size = algo.input_size if isinstance(algo.input_size, int) \
        else algo.input_size[0]
    before = {k: v.clone() for k, v in
              algo.distiller.connectors.state_dict().items()}
    for _ in range(2):
        losses = algo.train_step(_batch(size, 10), wrapper)
    for name, value in losses.items():
        assert torch.isfinite(value).all(), name
    assert any(not torch.equal(v, before[k]) for k, v in
               algo.distiller.connectors.state_dict().items()
               if v.is_floating_point())


def test_torchrun_on_the_gpus(tmp_path, digits_teacher_ckpt):
    """2 processes on 2 GPUs (nccl), or 1 process on the only one."""
    gpus = min(torch.cuda.device_count(), 2)
    env = dict(os.environ, PATH=osp.dirname(sys.executable) + os.pathsep +
               os.environ['PATH'])
    result = subprocess.run([
        'bash', 'tools/dist_train.sh', OFA_DIGITS_CFG, str(gpus),
        '--work-dir', str(tmp_path), '--amp', '--cfg-options',
        'train_dataloader.dataset.indices=64',
        'train_dataloader.batch_size=16', 'val_dataloader.dataset.indices=32',
        'train_cfg.max_epochs=1', 'default_hooks.checkpoint.interval=1',
        f'model.teacher_ckpt={digits_teacher_ckpt}'
    ], cwd=REPO_ROOT, capture_output=True, text=True, timeout=900, env=env)
    assert result.returncode == 0, result.stderr[-3000:]
    assert osp.isfile(osp.join(tmp_path, 'epoch_1.pth'))
    text = open(glob.glob(osp.join(tmp_path, '*', '*.log'))[0]).read()
    assert f'GPU number: {gpus}' in text
    assert 'nccl' in text.lower() or gpus == 1


def test_runner_trains_on_the_gpu(tmp_path, digits_teacher_ckpt):
    cfg = small_config(OFA_DIGITS_CFG, str(tmp_path), epochs=1,
                       **{'model.teacher_ckpt': digits_teacher_ckpt})
    cfg.optim_wrapper.type = 'AmpOptimWrapper'
    cfg.optim_wrapper.dtype = 'bfloat16'
    runner = Runner.from_cfg(cfg)
    runner.train()
    assert next(runner.model.parameters()).is_cuda
    value = runner.message_hub.get_scalar(
        'train/distill.loss_ofa_stage1').current()
    assert torch.isfinite(torch.as_tensor(value))


@pytest.mark.parametrize('amp', ['bf16', None], ids=['bf16', 'fp32'])
def test_a_distillation_iteration_waits_on_the_device_at_most_3_times(amp):
    """The README's target: <= 3 host-device syncs per distillation
    iteration (stacked pinned batch, non-blocking copies, the losses read
    in one copy, bf16 without a GradScaler)."""
    from mmengine.config import Config

    from ofakd_mm.utils.benchmark import (batch_factory, build_algorithm,
                                          count_syncs, distill_step,
                                          optim_wrapper_cfg)
    cfg = Config.fromfile(OFA_DIGITS_CFG)
    cfg.train_dataloader.pin_memory = True
    algo = build_algorithm(cfg, 'cuda', (16, 16))
    algo.train()
    batch = batch_factory(cfg, 16, (16, 16), 10, 'cuda')
    step = distill_step(algo, optim_wrapper_cfg(cfg, 'cuda', amp), None)
    for _ in range(3):
        step(batch())
    syncs = count_syncs(step, batch(), 'cuda')
    assert syncs['cuda_syncs'] <= 3, syncs
