"""Each patch of ofakd_mm.compat: applied exactly where the unpatched stack
fails (observed in fresh processes without it, never recomputed from the
patch's own guard), a test that fails without it, and its guard on the
other machines' answers (simulated)."""
import json
import os
import os.path as osp
import subprocess
import sys

import pytest
import torch
from mmengine.config import Config

from ofakd_mm import compat
from ofakd_mm.compat import distributed
from ofakd_mm.compat import mmcls as mmcls_alias
from ofakd_mm.compat import mmrazor_kd, quantization

REPO_ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
COMPAT_DIR = osp.join(REPO_ROOT, 'ofakd_mm', 'compat')


def run_python(code: str, *args: str, **env) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, '-c', code, *args],
                          capture_output=True, text=True, timeout=300,
                          env={**os.environ, **env})


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


#: What the stack does without ofakd_mm (a fresh process that never imports
#: it). mmrazor's import is tried last: a failed import leaves modules.
STOCK = r'''
import json, os.path as osp, sys, tempfile
import torch
facts = {}
try:
    import mmcls  # noqa: F401
except ImportError:
    facts['mmcls_import_fails'] = True
else:
    facts['mmcls_import_fails'] = False
from mmengine.config import Config
cfg = osp.join(tempfile.mkdtemp(), 'cfg.py')
with open(cfg, 'w') as f:
    f.write("_base_ = ['mmcls::resnet/resnet18_8xb32_in1k.py']\n")
try:
    Config.fromfile(cfg)
except ModuleNotFoundError:
    facts['mmcls_base_fails'] = True
else:
    facts['mmcls_base_fails'] = False
from mmpretrain.registry import MODELS
try:
    MODELS.build(dict(type='mmcls.LeNet5', num_classes=2))
except KeyError:
    facts['mmcls_type_fails'] = True
else:
    facts['mmcls_type_fails'] = False
from mmengine.registry import DefaultScope
from mmpretrain.models import ImageClassifier
with DefaultScope.overwrite_default_scope('mmengine'):
    try:
        ImageClassifier(backbone=torch.nn.Identity())
    except KeyError:
        facts['default_preprocessor_fails'] = True
    else:
        facts['default_preprocessor_fails'] = False
from mmengine.runner import load_checkpoint
full, evil, marker = sys.argv[1:4]
try:
    load_checkpoint(torch.nn.Linear(2, 2), full)
except Exception:  # whatever torch refuses it with
    facts['full_checkpoint_refused'] = True
else:
    facts['full_checkpoint_refused'] = False
try:
    load_checkpoint(torch.nn.Linear(2, 2), evil)
except Exception:  # whatever torch refuses it with
    pass
facts['evil_checkpoint_ran'] = osp.exists(marker)
try:
    import mmrazor.models  # noqa: F401
except ImportError:
    facts['mmrazor_import_fails'] = True
else:
    facts['mmrazor_import_fails'] = False
print(json.dumps(facts))
'''

#: What MMRazor's own KD code does on mmpretrain with only the two patches
#: it needs to import (the quantization stub and the mmcls alias, loaded
#: from their files without ofakd_mm).
MMRAZOR_ALONE = r'''
import importlib.util, json, sys
import torch


def load(name):
    spec = importlib.util.spec_from_file_location(
        name, f'{sys.argv[1]}/{name}.py')
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


assert load('quantization').patch_mmrazor_quantization()
assert load('mmcls').alias_mmcls_modules()
from mmrazor.models.architectures.generators import DAFLGenerator
from mmpretrain.registry import MODELS
facts = dict(generator_has_module=hasattr(
    DAFLGenerator(img_size=8, latent_dim=4, hidden_channels=8), 'module'))
model = MODELS.build(dict(
    type='ImageClassifier',
    backbone=dict(type='DistilledVisionTransformer', img_size=16,
                  patch_size=8, arch=dict(embed_dims=16, num_layers=1,
                                          num_heads=2,
                                          feedforward_channels=16)),
    head=dict(type='mmrazor.DeiTClsHead', num_classes=3, in_channels=16)))
try:
    model(torch.zeros(1, 3, 16, 16), mode='tensor')
except ValueError:
    facts['deit_head_fails'] = True
else:
    facts['deit_head_fails'] = False
print(json.dumps(facts))
'''


@pytest.fixture(scope='module')
def stock(tmp_path_factory):
    """Facts of the unpatched stack on this machine, and the files of the
    checkpoint probe."""
    tmp = tmp_path_factory.mktemp('stock')
    full, evil = str(tmp / 'full.pth'), str(tmp / 'evil.pth')
    marker = str(tmp / 'created_by_pickle')
    full_checkpoint(full)
    torch.save({'state_dict': torch.nn.Linear(2, 2).state_dict(),
                'meta': {'x': _CreatesFile(marker)}}, evil)
    result = run_python(STOCK, full, evil, marker)
    assert result.returncode == 0, result.stderr[-3000:]
    facts = json.loads(result.stdout.strip().splitlines()[-1])
    alone = run_python(MMRAZOR_ALONE, COMPAT_DIR)
    assert alone.returncode == 0, alone.stderr[-3000:]
    facts.update(json.loads(alone.stdout.strip().splitlines()[-1]))
    facts.update(full=full, evil=evil, marker=marker)
    return facts


def needed(patch: str, facts: dict) -> bool:
    """Whether ``patch`` is needed here, by what the unpatched stack did."""
    if patch == 'patch_cpu_distributed':
        return stock_init_dist_fails()
    return {
        'patch_mmrazor_quantization': facts['mmrazor_import_fails'],
        'alias_mmcls_modules': facts['mmcls_import_fails'],
        'alias_mmcls_scope': facts['mmcls_type_fails'],
        'alias_mmcls_configs': facts['mmcls_base_fails'],
        'patch_checkpoint_loading': (facts['full_checkpoint_refused']
                                     or facts['evil_checkpoint_ran']),
        'patch_image_classifier_preprocessor':
        facts['default_preprocessor_fails'],
        'patch_deit_head': facts['deit_head_fails'],
        'patch_datafree_generator': not facts['generator_has_module'],
    }[patch]


#: mmengine's launcher with the usual nccl config and a DDP model, as its
#: Runner makes them (on the GPU of a CUDA host).
DDP_RUN = '''
import torch
from mmengine.dist import init_dist, get_backend
from mmengine.model import MMDistributedDataParallel
init_dist('pytorch', backend='nccl')
device = 'cuda' if torch.cuda.is_available() else 'cpu'
model = MMDistributedDataParallel(torch.nn.Linear(2, 2).to(device),
                                  device_ids=[0])
model(torch.ones(1, 2, device=device)).sum().backward()
print('backend', get_backend())
'''
TORCHRUN_ENV = dict(RANK='0', LOCAL_RANK='0', WORLD_SIZE='1',
                    MASTER_ADDR='127.0.0.1')


def stock_init_dist_fails() -> bool:
    result = run_python(DDP_RUN, **TORCHRUN_ENV, MASTER_PORT='29632')
    return result.returncode != 0


@pytest.mark.parametrize('patch', [p.__name__ for p in compat.PATCHES])
def test_applied_exactly_where_needed(patch, stock):
    need = needed(patch, stock)
    assert (patch in compat.APPLIED) == need, (
        f'{patch} is {"" if need else "not "}needed on this machine; '
        f'applied: {compat.APPLIED}')
    assert compat.apply() == compat.APPLIED  # applying again changes nothing


# mmrazor quantization


def test_quantization_patch_guard(monkeypatch):
    monkeypatch.delitem(sys.modules, quantization._BACKEND_CONFIG_MODULE,
                        raising=False)
    # A torch that still has the torch.ao names mmrazor imports: no patch.
    monkeypatch.setattr(quantization, '_quantization_backend_importable',
                        lambda: True)
    assert compat.patch_mmrazor_quantization() is False
    assert quantization._BACKEND_CONFIG_MODULE not in sys.modules
    # A torch without them: the stub is installed.
    monkeypatch.setattr(quantization, '_quantization_backend_importable',
                        lambda: False)
    assert compat.patch_mmrazor_quantization() is True
    stub = sys.modules[quantization._BACKEND_CONFIG_MODULE]
    with pytest.raises(compat.QuantizationUnavailableError):
        stub.get_native_backend_config()


def test_mmrazor_kd_components_import():
    from mmrazor.registry import MODELS
    for name in ('SingleTeacherDistill', 'ConfigurableDistiller',
                 'KLDivergence', 'DKDLoss', 'KDSoftCELoss', 'DeiTClsHead',
                 'DAFLDataFreeDistillation', 'OFAKDDistill'):
        assert MODELS.get(name) is not None, name


def test_mmrazor_imported_first_is_a_clear_error():
    """A failed ``import mmrazor.models`` leaves mmrazor modules that hold
    its placeholder for mmcls; ofakd_mm cannot fix them in that process."""
    result = run_python(
        'try:\n    import mmrazor.models\nexcept ImportError:\n    pass\n'
        'import ofakd_mm')
    assert result.returncode != 0
    assert 'Import ofakd_mm before mmrazor' in result.stderr, \
        result.stderr[-2000:]
    assert 'mmrazor.models.architectures.heads.deit_head' in result.stderr


@pytest.mark.skipif(
    'patch_mmrazor_quantization' not in compat.APPLIED,
    reason='mmrazor quantization works with this torch: not patched')
def test_quantization_fails_loudly():
    from mmrazor.structures.quantization import (BackendConfigs,
                                                 get_native_backend_config)
    with pytest.raises(compat.QuantizationUnavailableError,
                       match='quantization is unavailable on torch'):
        BackendConfigs['native']
    with pytest.raises(compat.QuantizationUnavailableError):
        get_native_backend_config()


# mmcls is mmpretrain


def test_mmcls_modules_are_mmpretrain_modules():
    import mmcls.models.losses.cross_entropy_loss as mmcls_ce
    import mmpretrain.datasets.transforms.formatting as formatting
    import mmpretrain.models.losses.cross_entropy_loss as ce
    from mmcls.datasets.transforms.formatting import PackClsInputs, to_tensor
    from mmcls.structures import ClsDataSample
    from mmpretrain.structures import DataSample
    assert mmcls_ce.soft_cross_entropy is ce.soft_cross_entropy
    assert ClsDataSample is DataSample
    assert PackClsInputs is formatting.PackInputs
    assert to_tensor is formatting.to_tensor
    with pytest.raises(ModuleNotFoundError):
        import mmcls.no_such_module  # noqa: F401
    with pytest.raises(AttributeError, match='alias of'):
        mmcls_ce.no_such_name
    # MMRazor's own imports got them
    import mmrazor.datasets  # noqa: F401
    from mmpretrain.models import ImageClassifier
    from mmrazor.datasets.transforms import PackCRDClsInputs
    from mmrazor.models.architectures.heads.deit_head import \
        VisionTransformerClsHead
    from mmrazor.models.losses import kd_soft_ce_loss
    from mmrazor.models.task_modules.demo_inputs import default_demo_inputs
    assert kd_soft_ce_loss.soft_cross_entropy is ce.soft_cross_entropy
    assert VisionTransformerClsHead.__module__.startswith('mmpretrain.')
    assert issubclass(PackCRDClsInputs, formatting.PackInputs)
    assert default_demo_inputs.ImageClassifier is ImageClassifier
    # and no module of mmrazor holds its placeholder for mmcls any more
    assert mmcls_alias._mmcls_placeholders() == []


def test_mmcls_scope_is_mmpretrain(monkeypatch):
    from mmengine.registry import DefaultScope, Registry
    from mmpretrain.models import LeNet5
    from mmpretrain.registry import TRANSFORMS
    from mmrazor.registry import MODELS

    def build():
        by_type = MODELS.build(dict(type='mmcls.LeNet5', num_classes=3))
        by_scope = MODELS.build(
            dict(_scope_='mmcls', type='LeNet5', num_classes=3))
        return by_type, by_scope

    assert all(isinstance(m, LeNet5) for m in build())
    assert TRANSFORMS.get('PackClsInputs').__name__ == 'PackInputs'
    # without the patch: mmengine finds no registry of scope mmcls
    monkeypatch.setattr(DefaultScope, '__init__',
                        DefaultScope.__init__.__wrapped__)
    monkeypatch.setattr(Registry, 'split_scope_key',
                        staticmethod(Registry.split_scope_key.__wrapped__))
    with pytest.raises(KeyError):
        build()


def write_config(tmp_path, text):
    path = tmp_path / 'cfg.py'
    path.write_text(text)
    return str(path)


def test_mmcls_config_files_are_mmpretrain_files(tmp_path, monkeypatch):
    import mmengine.config.config as config_module
    from mmengine.hub import get_config

    # a file of the same name, and one that mmpretrain renamed
    resnet = Config.fromfile(write_config(
        tmp_path, "_base_ = ['mmcls::resnet/resnet18_8xb32_in1k.py']\n"))
    assert resnet.model.backbone.depth == 18
    assert resnet.train_dataloader.dataset._scope_ == 'mmcls'
    deit = Config.fromfile(write_config(
        tmp_path, "_base_ = ['mmcls::deit/deit-base_pt-16xb64_in1k.py']\n"))
    assert deit.model.backbone.arch == 'deit-base'
    # MMRazor's cfg_path goes through mmengine.hub: found, nothing installed
    assert get_config('mmcls::resnet/resnet18_8xb32_in1k.py'
                      ).model.backbone.depth == 18
    monkeypatch.setattr(config_module, '_get_package_and_cfg_path',
                        config_module._get_package_and_cfg_path.__wrapped__)
    with pytest.raises(ModuleNotFoundError, match='mmcls is not installed'):
        Config.fromfile(write_config(
            tmp_path, "_base_ = ['mmcls::resnet/resnet18_8xb32_in1k.py']\n"))


def test_renamed_configs_table():
    import mmpretrain
    configs = osp.join(osp.dirname(mmpretrain.__file__), '.mim', 'configs')
    for old, new in mmcls_alias.RENAMED_CONFIGS.items():
        assert osp.isfile(osp.join(configs, new)), new
        assert not osp.exists(osp.join(configs, old)), old


#: A stand-in for a real mmcls installed beside mmpretrain.
REAL_MMCLS = r'''
import sys
sys.path.insert(0, sys.argv[1])
import ofakd_mm, mmcls
from mmengine.config import Config
from mmengine.registry import Registry
from ofakd_mm.compat import mmcls as alias
assert mmcls.__file__.startswith(sys.argv[1]), mmcls.__file__
assert not any(isinstance(f, alias.MMClsAliasFinder) for f in sys.meta_path)
assert Registry.split_scope_key('mmcls.X') == ('mmcls', 'X')
cfg = Config.fromfile(sys.argv[2])
assert cfg.model.type == 'from the real mmcls', cfg.model
print(sorted(ofakd_mm.compat.APPLIED))
'''


def test_a_real_mmcls_is_never_shadowed(tmp_path):
    package = tmp_path / 'site' / 'mmcls'
    (package / '.mim' / 'configs' / 'resnet').mkdir(parents=True)
    (package / '__init__.py').write_text("__version__ = '1.0.0rc6'\n")
    (package / '.mim' / 'model-index.yml').write_text('Import: []\n')
    (package / '.mim' / 'configs' / 'resnet' / 'r.py').write_text(
        "model = dict(type='from the real mmcls')\n")
    user = write_config(tmp_path, "_base_ = ['mmcls::resnet/r.py']\n")
    result = run_python(REAL_MMCLS, str(tmp_path / 'site'), user)
    assert result.returncode == 0, result.stderr[-3000:]
    applied = result.stdout.strip().splitlines()[-1]
    for patch in ('alias_mmcls_modules', 'alias_mmcls_scope',
                  'alias_mmcls_configs', 'patch_deit_head'):
        assert patch not in applied, applied


def test_mmcls_alias_guard_with_an_installed_mmcls(monkeypatch):
    import importlib.machinery
    monkeypatch.setattr(mmcls_alias, '_real_mmcls_spec',
                        lambda: importlib.machinery.ModuleSpec('mmcls', None))
    assert compat.alias_mmcls_modules() is False
    assert compat.alias_mmcls_scope() is False
    assert compat.alias_mmcls_configs() is False


# MMRazor's own KD code on mmpretrain, in one process


def tiny_deit(head_type='mmrazor.DeiTClsHead'):
    from mmpretrain.registry import MODELS
    return MODELS.build(dict(
        type='ImageClassifier',
        backbone=dict(type='DistilledVisionTransformer', img_size=16,
                      patch_size=8, arch=dict(embed_dims=16, num_layers=1,
                                              num_heads=2,
                                              feedforward_channels=16)),
        head=dict(type=head_type, num_classes=3, in_channels=16)))


def test_deit_head_takes_mmpretrain_distilled_vit_output():
    model = tiny_deit()
    dist_scores = []
    model.head.layers.head_dist.register_forward_hook(
        lambda module, args, out: dist_scores.append(out))
    scores = model(torch.randn(2, 3, 16, 16), mode='tensor')
    # the class-token logits; the distillation head ran for a recorder
    assert scores.shape == (2, 3) and dist_scores[0].shape == (2, 3)
    assert not torch.equal(scores, dist_scores[0])
    # and mmcls's layout (patch tokens, class token, distillation token)
    cls_token, dist_token = torch.ones(2, 16), torch.zeros(2, 16)
    assert model.head.pre_logits([(None, cls_token, dist_token)]) == (
        cls_token, dist_token)


def test_deit_head_patch_guard(monkeypatch):
    from mmrazor.models.architectures.heads import DeiTClsHead

    # mmrazor's head on a real mmcls (another base class): not patched
    monkeypatch.setattr(mmrazor_kd, 'issubclass', lambda *a: False,
                        raising=False)
    assert compat.patch_deit_head() is False
    monkeypatch.delattr(mmrazor_kd, 'issubclass')
    # patched already: reads mmpretrain's layout
    assert compat.patch_deit_head() is False
    assert mmrazor_kd._reads_class_and_distillation_token(
        DeiTClsHead.pre_logits)


def test_image_classifier_default_preprocessor(monkeypatch):
    from mmengine.registry import DefaultScope
    from mmpretrain.models import ClsDataPreprocessor, ImageClassifier

    def build_in_mmrazor_scope():
        with DefaultScope.overwrite_default_scope('mmrazor'):
            return ImageClassifier(
                backbone=torch.nn.Identity(),
                data_preprocessor=dict(mean=[1., 2., 3.], std=[1., 1., 1.]))

    model = build_in_mmrazor_scope()
    assert isinstance(model.data_preprocessor, ClsDataPreprocessor)
    assert model.data_preprocessor.mean.flatten().tolist() == [1., 2., 3.]
    # a given type, a module and positional arguments are kept
    given = torch.nn.Identity()
    assert ImageClassifier(torch.nn.Identity(), None, None, None, None,
                           given).data_preprocessor is given
    monkeypatch.setattr(ImageClassifier, '__init__',
                        ImageClassifier.__init__.__wrapped__)
    assert mmrazor_kd.default_preprocessor_type(
        ImageClassifier) == 'ClsDataPreprocessor'
    with pytest.raises(KeyError, match='ClsDataPreprocessor'):
        build_in_mmrazor_scope()


def test_datafree_generator_is_its_own_module():
    from mmrazor.models.architectures.generators import (DAFLGenerator,
                                                         ZSKTGenerator)
    for generator in (DAFLGenerator(img_size=8, latent_dim=4,
                                    hidden_channels=8),
                      ZSKTGenerator(img_size=8, latent_dim=4,
                                    hidden_channels=8)):
        assert generator.module is generator
        assert generator.module.latent_dim == 4
        assert not any(k.startswith('module.')
                       for k in generator.state_dict())
    assert compat.patch_datafree_generator() is False  # applied already


# checkpoint loading


def test_checkpoint_patch_is_idempotent(monkeypatch):
    from mmengine.runner import checkpoint as mm_checkpoint

    from ofakd_mm.compat.checkpoint import scheme_loaders
    loader_cls = mm_checkpoint.CheckpointLoader
    # Restored after the test (registering replaces the dict).
    monkeypatch.setattr(loader_cls, '_schemes', dict(loader_cls._schemes))
    assert compat.patch_checkpoint_loading() is False  # ours already
    # mmengine's own loaders: replaced, for every scheme.
    loader_cls._schemes[''] = mm_checkpoint.load_from_local
    loader_cls._schemes['https://'] = mm_checkpoint.load_from_http
    assert compat.patch_checkpoint_loading() is True
    for prefix, loader in scheme_loaders():
        assert loader_cls._schemes[prefix] is loader


def test_checkpoint_loading_is_safe_and_loads_mmengine_checkpoints(
        tmp_path, stock):
    from mmengine.runner import load_checkpoint

    from ofakd_mm.utils.checkpoint import UnsafeCheckpointError
    marker = str(tmp_path / 'created_by_pickle')
    evil = str(tmp_path / 'evil.pth')
    torch.save({'state_dict': torch.nn.Linear(2, 2).state_dict(),
                'meta': {'x': _CreatesFile(marker)}}, evil)
    model = torch.nn.Linear(2, 2)
    ckpt = load_checkpoint(model, stock['full'], map_location='cpu')
    assert ckpt['meta']['epoch'] == 1
    assert torch.equal(model.weight, ckpt['state_dict']['weight'])
    with pytest.raises(UnsafeCheckpointError):
        load_checkpoint(torch.nn.Linear(2, 2), evil)
    assert not os.path.exists(marker)


def test_missing_checkpoint_message(tmp_path):
    from mmengine.runner.checkpoint import _load_checkpoint
    with pytest.raises(FileNotFoundError, match='can not be found'):
        _load_checkpoint(str(tmp_path / 'none.pth'))


# torchrun without an accelerator


@pytest.fixture
def mmengine_dist(monkeypatch):
    """mmengine's own launcher and DDP init (restored after the test)."""
    import mmengine.dist.utils as dist_utils
    from mmengine.model.wrappers import MMDistributedDataParallel
    init_dist = getattr(dist_utils._init_dist_pytorch, '__wrapped__',
                        dist_utils._init_dist_pytorch)
    ddp_init = getattr(MMDistributedDataParallel.__init__, '__wrapped__',
                       MMDistributedDataParallel.__init__)
    monkeypatch.setattr(dist_utils, '_init_dist_pytorch', init_dist)
    monkeypatch.setattr(MMDistributedDataParallel, '__init__', ddp_init)
    monkeypatch.setattr(torch.cuda, 'is_available', lambda: False)
    return dist_utils, MMDistributedDataParallel


@pytest.mark.parametrize('device', ['cuda', 'npu', 'mlu', 'musa'])
def test_cpu_distributed_not_on_accelerator_hosts(device, mmengine_dist,
                                                  monkeypatch):
    import mmengine.device
    dist_utils, ddp = mmengine_dist
    init_dist, ddp_init = dist_utils._init_dist_pytorch, ddp.__init__
    if device == 'cuda':
        monkeypatch.setattr(torch.cuda, 'is_available', lambda: True)
    else:
        monkeypatch.setattr(mmengine.device, f'is_{device}_available',
                            lambda: True)
    assert compat.patch_cpu_distributed() is False
    assert dist_utils._init_dist_pytorch is init_dist
    assert ddp.__init__ is ddp_init


@pytest.mark.parametrize('asked, runs', [('nccl', 'gloo'), ('gloo', 'gloo'),
                                         ('mpi', 'mpi')])
def test_cpu_distributed_backend(asked, runs, mmengine_dist, monkeypatch):
    dist_utils, _ = mmengine_dist
    assert compat.patch_cpu_distributed() is True
    got = []
    monkeypatch.setattr(torch.distributed, 'init_process_group',
                        lambda backend, **kwargs: got.append(backend))
    monkeypatch.setattr(torch.cuda, 'set_device', lambda *a: pytest.fail(
        'set_device called without CUDA'))
    dist_utils._init_dist_pytorch(asked)
    assert got == [runs]


def test_cpu_distributed_ddp_arguments(mmengine_dist, monkeypatch):
    """``device_ids`` are dropped for a CPU module only (torch refuses them
    there); a module elsewhere keeps them."""
    _, ddp = mmengine_dist
    got = []
    monkeypatch.setattr(ddp, '__init__',
                        lambda self, module, **kw: got.append(kw))
    assert compat.patch_cpu_distributed() is True
    obj = object.__new__(ddp)
    ddp.__init__(obj, torch.nn.Linear(2, 2), device_ids=[0],
                 output_device=0, broadcast_buffers=False)
    ddp.__init__(obj, torch.nn.Linear(2, 2, device='meta'), device_ids=[0])
    assert got == [dict(broadcast_buffers=False), dict(device_ids=[0])]


@pytest.mark.skipif(distributed.has_accelerator(),
                    reason='host with an accelerator: patch_cpu_distributed '
                    'is not applied (the tests above simulate both)')
def test_cpu_ddp_with_nccl_config():
    """mmengine's launcher with the usual nccl config, on a CPU machine:
    gloo runs, and the log says so."""
    patched = run_python('import ofakd_mm\n' + DDP_RUN, **TORCHRUN_ENV,
                         MASTER_PORT='29631')
    assert patched.returncode == 0, patched.stderr
    assert 'backend gloo' in patched.stdout
    assert ("torch.distributed backend: 'gloo', not the 'nccl' of the "
            'config') in patched.stdout + patched.stderr


@pytest.mark.parametrize('version, ok', [('2.4.1', False), ('1.13.0', False),
                                         ('2.5.0', True), ('2.14.1', True)])
def test_torch_floor(version, ok):
    if ok:
        compat.check_torch_version(version)
        return
    with pytest.raises(ImportError, match=r'needs torch >= 2\.5\.0'):
        compat.check_torch_version(version)
