"""Each patch of ofakd_mm.compat: applied exactly where it is needed (the
other machine's answers are simulated, so both branches run everywhere),
and a test that fails without it."""
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


#: Whether each patch is needed on this machine, by the feature test it is
#: guarded by.
NEEDED_HERE = {
    'patch_mmrazor_quantization':
    not compat._quantization_backend_importable(),
    'patch_checkpoint_loading':
    hasattr(torch.serialization, 'safe_globals'),
    'patch_cpu_distributed':
    not torch.cuda.is_available(),
}


@pytest.mark.parametrize(
    'patch', sorted(NEEDED_HERE),
    ids=[f'{p}-{"needed" if n else "not-needed"}-here'
         for p, n in sorted(NEEDED_HERE.items())])
def test_applied_exactly_where_needed(patch):
    assert (patch in compat.APPLIED) == NEEDED_HERE[patch], (
        f'{patch} is {"" if NEEDED_HERE[patch] else "not "}needed on this '
        f'machine; applied: {compat.APPLIED}')
    assert compat.apply() == compat.APPLIED  # applying again changes nothing


def test_quantization_patch_guard(monkeypatch):
    monkeypatch.delitem(sys.modules, compat._BACKEND_CONFIG_MODULE,
                        raising=False)
    # A torch that still has the torch.ao names mmrazor imports: no patch.
    monkeypatch.setattr(compat, '_quantization_backend_importable',
                        lambda: True)
    assert compat.patch_mmrazor_quantization() is False
    assert compat._BACKEND_CONFIG_MODULE not in sys.modules
    # A torch without them: the stub is installed.
    monkeypatch.setattr(compat, '_quantization_backend_importable',
                        lambda: False)
    assert compat.patch_mmrazor_quantization() is True
    stub = sys.modules[compat._BACKEND_CONFIG_MODULE]
    with pytest.raises(compat.QuantizationUnavailableError):
        stub.get_native_backend_config()


def test_mmrazor_kd_imports_with_the_patch():
    stock = run_python('import mmrazor.models')
    # Without the patch mmrazor fails to import exactly where it is needed.
    assert (stock.returncode != 0) == NEEDED_HERE[
        'patch_mmrazor_quantization'], stock.stderr[-2000:]
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


@pytest.mark.skipif(not NEEDED_HERE['patch_mmrazor_quantization'],
                    reason='mmrazor quantization works with this torch: '
                    'the patch is not applied')
def test_quantization_fails_loudly():
    from mmrazor.structures.quantization import (BackendConfigs,
                                                 get_native_backend_config)
    with pytest.raises(compat.QuantizationUnavailableError,
                       match='quantization is unavailable on torch'):
        BackendConfigs['native']
    with pytest.raises(compat.QuantizationUnavailableError):
        get_native_backend_config()


def test_checkpoint_patch_guard(monkeypatch):
    from mmengine.runner import checkpoint as mm_checkpoint

    from ofakd_mm.utils.checkpoint import SCHEME_LOADERS
    loader_cls = mm_checkpoint.CheckpointLoader
    # Restored after the test (registering replaces the dict).
    monkeypatch.setattr(loader_cls, '_schemes', dict(loader_cls._schemes))
    # Already ours: nothing to do.
    if NEEDED_HERE['patch_checkpoint_loading']:
        assert compat.patch_checkpoint_loading() is False
    # mmengine's own loaders: replaced, for every scheme.
    loader_cls._schemes[''] = mm_checkpoint.load_from_local
    loader_cls._schemes['https://'] = mm_checkpoint.load_from_http
    assert compat.patch_checkpoint_loading() is True
    for prefixes, loader in SCHEME_LOADERS:
        for prefix in [prefixes] if isinstance(prefixes, str) else prefixes:
            assert loader_cls._schemes[prefix] is loader
    # A torch without safe_globals (< 2.5) cannot have an allow-list.
    monkeypatch.delattr(torch.serialization, 'safe_globals')
    loader_cls._schemes[''] = mm_checkpoint.load_from_local
    assert compat.patch_checkpoint_loading() is False
    assert loader_cls._schemes[''] is mm_checkpoint.load_from_local


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


class _CreatesFile:

    def __init__(self, path):
        self.path = path

    def __reduce__(self):
        return (open, (self.path, 'w'))


STOCK_LOADS = '''
import sys, torch
from mmengine.runner import load_checkpoint
for path in sys.argv[1:]:
    try:
        load_checkpoint(torch.nn.Linear(2, 2), path)
        print(path, 'loaded')
    except Exception as e:
        print(path, 'refused', type(e).__name__)
'''


def test_checkpoint_loading_is_safe_and_loads_mmengine_checkpoints(
        tmp_path):
    from mmengine.runner import load_checkpoint

    from ofakd_mm.utils.checkpoint import UnsafeCheckpointError
    full, evil = str(tmp_path / 'full.pth'), str(tmp_path / 'evil.pth')
    marker = str(tmp_path / 'created_by_pickle')
    full_checkpoint(full)
    torch.save({'state_dict': torch.nn.Linear(2, 2).state_dict(),
                'meta': {'x': _CreatesFile(marker)}}, evil)

    model = torch.nn.Linear(2, 2)
    ckpt = load_checkpoint(model, full, map_location='cpu')
    assert ckpt['meta']['epoch'] == 1
    assert torch.equal(model.weight, ckpt['state_dict']['weight'])
    with pytest.raises(UnsafeCheckpointError):
        load_checkpoint(torch.nn.Linear(2, 2), evil)
    assert not os.path.exists(marker)

    # Stock mmengine fails one way or the other, whatever this torch is:
    # torch < 2.6 runs the pickle, torch >= 2.6 refuses its own checkpoint.
    stock = subprocess.run(
        [sys.executable, '-c', STOCK_LOADS, full, evil], capture_output=True,
        text=True, timeout=300)
    assert stock.returncode == 0, stock.stderr[-2000:]
    full_refused = f'{full} refused' in stock.stdout
    assert full_refused or os.path.exists(marker), stock.stdout


def test_missing_checkpoint_message(tmp_path):
    from mmengine.runner.checkpoint import _load_checkpoint
    with pytest.raises(FileNotFoundError, match='can not be found'):
        _load_checkpoint(str(tmp_path / 'none.pth'))


def test_cpu_distributed_patch_guard(monkeypatch):
    import mmengine.dist.utils as dist_utils
    from mmengine.model.wrappers import MMDistributedDataParallel
    init_dist = dist_utils._init_dist_pytorch
    ddp_init = MMDistributedDataParallel.__init__
    # Restored after the test, whatever the patch does.
    monkeypatch.setattr(dist_utils, '_init_dist_pytorch', init_dist)
    monkeypatch.setattr(MMDistributedDataParallel, '__init__', ddp_init)
    monkeypatch.setattr(torch.cuda, 'is_available', lambda: True)
    assert compat.patch_cpu_distributed() is False
    assert dist_utils._init_dist_pytorch is init_dist
    assert MMDistributedDataParallel.__init__ is ddp_init
    monkeypatch.setattr(torch.cuda, 'is_available', lambda: False)
    assert compat.patch_cpu_distributed() is True
    assert dist_utils._init_dist_pytorch is not init_dist
    assert MMDistributedDataParallel.__init__ is not ddp_init


@pytest.mark.skipif(not NEEDED_HERE['patch_cpu_distributed'],
                    reason='CUDA host: patch_cpu_distributed is not applied '
                    '(test_cpu_distributed_patch_guard simulates both)')
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


@pytest.mark.parametrize('version, ok', [('2.4.1', False), ('1.13.0', False),
                                         ('2.5.0', True), ('2.14.1', True)])
def test_torch_floor(version, ok):
    if ok:
        compat.check_torch_version(version)
        return
    with pytest.raises(ImportError, match=r'needs torch >= 2\.5\.0'):
        compat.check_torch_version(version)
