"""``import ofakd_mm`` registers components and applies the documented
compatibility patches, and changes nothing else of the process."""
import subprocess
import sys

CHECK = '''
import copy, warnings
# the stack first: torch, numpy and sympy add filters of their own
import mmengine.runner, mmpretrain.models
from mmpretrain.models.backbones import SwinTransformer
filters = list(warnings.filters)
arch_zoo = copy.deepcopy(SwinTransformer.arch_zoo)
import ofakd_mm
assert warnings.filters == filters, 'warning filters changed'
assert SwinTransformer.arch_zoo == arch_zoo, 'Swin arch_zoo changed'
from mmrazor.registry import MODELS, HOOKS
from mmpretrain.registry import MODELS as CLS_MODELS, DATASETS
for name in ('OFAKDDistill', 'OFAKDDistiller', 'OFAKDLoss',
             'OFAKDConvProjector', 'OFAKDTokenProjector',
             'FrozenTeacherDistill', 'BatchMeanDKDLoss'):
    assert MODELS.get(name) is not None, name
for name in ('ResMLP', 'CycleMLP'):
    assert CLS_MODELS.get(name) is not None, name
assert DATASETS.get('DigitsDataset') is not None
assert HOOKS.get('StudentEMAHook') is not None
print('ok')
'''


def test_import_only_registers_and_patches():
    result = subprocess.run([sys.executable, '-c', CHECK],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.strip() == 'ok'
