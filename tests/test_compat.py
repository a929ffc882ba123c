"""Each patch of ofakd_mm.compat, with a test that fails without it."""
import os
import subprocess
import sys

import pytest
import torch

from ofakd_mm import compat


def run_python(code: str, **env) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, '-c', code],
                          capture_output=True, text=True, timeout=300,
                          env={**os.environ, **env})


def test_all_patches_applied_on_this_stack():
    assert set(compat.APPLIED) == {
        'patch_mmrazor_quantization', 'patch_checkpoint_loading',
        'patch_cpu_distributed'
    }
    # applying again changes nothing
    assert compat.apply() == compat.APPLIED


def test_mmrazor_kd_imports_only_with_the_patch():
    stock = run_python('import mmrazor.models')
    assert stock.returncode != 0  # the problem the patch exists for
    patched = run_python(
        'import ofakd_mm, mmrazor.models\n'
        'from mmrazor.registry import MODELS\n'
        "for n in ('SingleTeacherDistill', 'ConfigurableDistiller', "
        "'KLDivergence', 'DKDLoss', 'OFAKDDistill'):\n"
        '    assert MODELS.get(n) is not None, n\n'
        "print('ok')")
    assert patched.returncode == 0, patched.stderr
    assert patched.stdout.strip().endswith('ok')


def test_patch_recovers_after_a_failed_mmrazor_import():
    result = run_python(
        'try:\n    import mmrazor.models\nexcept ImportError:\n    pass\n'
        'import ofakd_mm, mmrazor.models\nprint("ok")')
    assert result.returncode == 0, result.stderr


def test_quantization_fails_loudly():
    from mmrazor.structures.quantization import (BackendConfigs,
                                                 get_native_backend_config)
    with pytest.raises(compat.QuantizationUnavailableError,
                       match='quantization is unavailable on torch'):
        BackendConfigs['native']
    with pytest.raises(compat.QuantizationUnavailableError):
        get_native_backend_config()


def full_checkpoint(path):
    """A checkpoint as mmengine writes it: training state pickled with it."""
    from mmengine.logging import HistoryBuffer
    torch.save(
        {
            'meta': {'epoch': 1},
            'state_dict': torch.nn.Linear(2, 2).state_dict(),
            'message_hub': {
                'log_scalars': {'loss': HistoryBuffer([1.0], [1])}
            },
        }, path)


def test_full_mmengine_checkpoint_loads(tmp_path):
    from mmengine.runner import load_checkpoint
    path = str(tmp_path / 'full.pth')
    full_checkpoint(path)
    model = torch.nn.Linear(2, 2)
    ckpt = load_checkpoint(model, path, map_location='cpu')
    assert ckpt['meta']['epoch'] == 1
    assert torch.equal(model.weight, ckpt['state_dict']['weight'])
    # without the patch, torch's weights_only default refuses the file
    stock = run_python(
        'from mmengine.runner import load_checkpoint\n'
        'import torch\n'
        f'load_checkpoint(torch.nn.Linear(2, 2), {path!r})')
    assert stock.returncode != 0
    assert 'weights_only' in stock.stderr or 'Unsupported global' in \
        stock.stderr


def test_missing_checkpoint_message(tmp_path):
    from mmengine.runner.checkpoint import _load_checkpoint
    with pytest.raises(FileNotFoundError, match='can not be found'):
        _load_checkpoint(str(tmp_path / 'none.pth'))


@pytest.mark.skipif(torch.cuda.is_available(), reason='CPU-only patch')
def test_cpu_ddp_with_nccl_config(tmp_path):
    """mmengine's launcher with the usual nccl config, on a CPU machine."""
    code = (
        'import ofakd_mm, torch\n'
        'from mmengine.dist import init_dist, get_backend\n'
        'from mmengine.model import MMDistributedDataParallel\n'
        "init_dist('pytorch', backend='nccl')\n"
        'model = MMDistributedDataParallel(torch.nn.Linear(2, 2), '
        'device_ids=[0])\n'
        'model(torch.ones(1, 2)).sum().backward()\n'
        "print('backend', get_backend())\n")
    env = dict(RANK='0', LOCAL_RANK='0', WORLD_SIZE='1',
               MASTER_ADDR='127.0.0.1', MASTER_PORT='29631')
    patched = run_python(code, **env)
    assert patched.returncode == 0, patched.stderr
    assert 'backend gloo' in patched.stdout
    stock = run_python(code.replace('import ofakd_mm, torch', 'import torch'),
                       **dict(env, MASTER_PORT='29632'))
    assert stock.returncode != 0
