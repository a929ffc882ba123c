"""``import ofakd_mm`` registers its components and changes, outside its own
registrations, exactly what the README's table in "The compatibility layer"
lists for this machine.

What changed is observed, not taken from ``ofakd_mm.compat``: a fresh
process snapshots the stack's tables, imports ofakd_mm and reports every
difference (module and class attributes of mmengine, mmpretrain and mmcv;
methods of mmrazor's classes whose code comes from another OpenMMLab
package or ofakd_mm; every registry; ``sys.modules`` and ``sys.meta_path``
entries of OpenMMLab packages that are not their own files; file backends;
checkpoint schemes; warning filters; Swin's ``arch_zoo``)."""
import json
import os.path as osp
import re
import subprocess
import sys

REPO_ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))

SNAPSHOT = r'''
import copy, importlib.util, inspect, json, re, sys, types, warnings
# the stack first: torch, numpy and sympy add filters of their own
import mmcv
import mmengine.hub, mmengine.runner
import mmpretrain.datasets, mmpretrain.models
import torch
from mmengine.fileio.backends import registry_utils
from mmengine.registry import Registry
from mmengine.runner.checkpoint import CheckpointLoader
from mmpretrain.models.backbones import SwinTransformer

PACKAGES = ('mmengine', 'mmpretrain', 'mmcv')
OPENMMLAB = re.compile(r'^(mm\w*|ofakd_mm)$')


def attributes():
    table = {}
    for name, module in list(sys.modules.items()):
        if name.split('.')[0] not in PACKAGES or module is None:
            continue
        for attr, value in list(vars(module).items()):
            table[f'{name}.{attr}'] = value
            if isinstance(value, type) and value.__module__ == name:
                for cattr, cvalue in list(vars(value).items()):
                    table[f'{name}.{value.__qualname__}.{cattr}'] = cvalue
    return table


def same(a, b):
    if a is b:
        return True
    if callable(a) or isinstance(a, (property, staticmethod, classmethod,
                                     types.ModuleType)):
        return False
    try:
        return bool(a == b)
    except Exception:  # a value without a meaningful ==
        return False


def registries():
    out = {}

    def walk(reg):
        out[f'{reg.scope}.{reg.name}'] = dict(reg._module_dict)
        for child in reg._children.values():
            walk(child)

    import mmengine.registry as roots
    for value in vars(roots).values():
        if isinstance(value, Registry) and value.parent is None:
            walk(value)
    return out


def own_file(name, module):
    """Whether a module is the file of its own name (not a stub, nor
    another module's alias)."""
    spec = getattr(module, '__spec__', None)
    if spec is None or spec.name != name:
        return False
    if spec.origin is None:  # a namespace package: its directories
        return bool(spec.submodule_search_locations)
    return re.search(re.escape(name.replace('.', '/')) + r'(/__init__)?\.',
                     spec.origin) is not None


facts = dict(
    mmcls_installed=importlib.util.find_spec('mmcls') is not None)
before = attributes()
before_registries = registries()
before_modules = set(sys.modules)
before_finders = list(sys.meta_path)
before_backends = dict(registry_utils.backends)
before_prefixes = dict(registry_utils.prefix_to_backends)
before_schemes = dict(CheckpointLoader._schemes)
filters = list(warnings.filters)
arch_zoo = copy.deepcopy(SwinTransformer.arch_zoo)

import ofakd_mm  # noqa: E402

changes = set()
after = attributes()
for key, value in before.items():
    if key in after and not same(value, after[key]):
        changes.add(key)
owners = {key.rsplit('.', 1)[0] for key in before}
for key, value in after.items():
    if (key not in before and key.rsplit('.', 1)[0] in owners
            and not isinstance(value, types.ModuleType)):
        changes.add(key + ' (added)')
for name, module in list(sys.modules.items()):
    if name.split('.')[0] != 'mmrazor' or module is None:
        continue
    for value in list(vars(module).values()):
        if not (isinstance(value, type) and value.__module__ == name):
            continue
        for attr, member in vars(value).items():
            func = getattr(member, '__func__', None) or getattr(
                member, 'fget', None) or member
            if inspect.isfunction(func) and OPENMMLAB.match(
                    func.__module__.split('.')[0]) and (
                        func.__module__ != name):
                changes.add(f'{name}.{value.__qualname__}.{attr}')
after_registries = registries()
for path, table in before_registries.items():
    now = after_registries[path]
    for key, obj in table.items():
        if now.get(key) is not obj:
            changes.add(f'registry {path}[{key!r}] replaced')
    for key, obj in now.items():
        if key not in table and not getattr(
                obj, '__module__', '').startswith('ofakd_mm'):
            changes.add(f'registry {path}[{key!r}]')
for name in set(sys.modules) - before_modules:
    if OPENMMLAB.match(name.split('.')[0]) and not own_file(
            name, sys.modules[name]):
        changes.add("sys.modules['%s']" % (
            name if '.' not in name or name.startswith('mmrazor') else
            name.split('.')[0] + '.*'))
if [f for f in sys.meta_path if f not in before_finders]:
    changes.add('sys.meta_path')
for key, value in registry_utils.backends.items():
    if before_backends.get(key) is not value:
        changes.add(f'file backend {key!r}')
for key, value in registry_utils.prefix_to_backends.items():
    if before_prefixes.get(key) is not value:
        changes.add(f'file backend prefix {key!r}')
schemes = {key: getattr(value, '__module__', '')
           for key, value in CheckpointLoader._schemes.items()
           if before_schemes.get(key) is not value}
if schemes:
    changes.add('mmengine.runner.checkpoint.CheckpointLoader._schemes')
if warnings.filters != filters:
    changes.add('warnings.filters')
if SwinTransformer.arch_zoo != arch_zoo:
    changes.add('mmpretrain Swin arch_zoo')

from mmpretrain.registry import DATASETS, MODELS as CLS_MODELS
from mmrazor.registry import HOOKS, MODELS
missing = [
    name for registry, names in (
        (MODELS, ('OFAKDDistill', 'OFAKDDistiller', 'OFAKDLoss',
                  'OFAKDConvProjector', 'OFAKDTokenProjector',
                  'FrozenTeacherDistill', 'BatchMeanDKDLoss')),
        (CLS_MODELS, ('ResMLP', 'CycleMLP')), (DATASETS, ('DigitsDataset', )),
        (HOOKS, ('StudentEMAHook', 'AtomicCheckpointHook')))
    for name in names if registry.get(name) is None]

from mmengine import device
facts['accelerator'] = bool(
    torch.cuda.is_available() or device.is_npu_available()
    or device.is_mlu_available() or device.is_musa_available())
print(json.dumps(dict(changes=sorted(changes), facts=facts,
                      missing=missing,
                      schemes=schemes,
                      before_schemes=sorted(before_schemes))))
'''


def readme_changes():
    """The README's rows: (what changes, when)."""
    with open(osp.join(REPO_ROOT, 'README.md')) as f:
        text = f.read()
    section = text.split('## The compatibility layer', 1)[1].split('\n## ')[0]
    rows = re.findall(r'^\| `([^`]+)` \| .* \| ([^|]+) \|$', section, re.M)
    assert rows, 'no table of changes in the README section'
    return [(what, when.strip()) for what, when in rows]


def applies(when, facts):
    return {
        'always': True,
        'no mmcls installed': not facts['mmcls_installed'],
        'no CUDA, NPU, MLU or MUSA': not facts['accelerator'],
    }[when]


def test_import_changes_exactly_the_readme_table():
    result = subprocess.run([sys.executable, '-c', SNAPSHOT],
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(result.stdout.strip().splitlines()[-1])
    expected = {
        what
        for what, when in readme_changes()
        if applies(when, report['facts'])
    }
    assert set(report['changes']) == expected, (
        f'changed but not in the README: '
        f'{sorted(set(report["changes"]) - expected)}; in the README but '
        f'not changed: {sorted(expected - set(report["changes"]))}')
    assert report['missing'] == [], 'not registered'
    # every scheme mmengine had now reads through ofakd_mm's loaders
    assert set(report['before_schemes']) <= set(report['schemes'])
    assert set(report['schemes'].values()) == {
        'ofakd_mm.utils.checkpoint.loading'}


NEVER_REPLACED = '''
from mmengine.fileio import LocalBackend, register_backend
from mmengine.fileio.backends import registry_utils
class Theirs(LocalBackend):
    pass
register_backend('ofakd_atomic_local', Theirs)
try:
    import ofakd_mm
except ValueError as e:
    print('refused:', e)
print('kept' if registry_utils.backends['ofakd_atomic_local'] is Theirs
      else 'replaced')
'''


def test_import_never_replaces_a_file_backend():
    """ofakd_mm's file backend is registered, never forced over one of the
    same name (mmengine then refuses the import, naming it)."""
    result = subprocess.run([sys.executable, '-c', NEVER_REPLACED],
                            capture_output=True, text=True, timeout=300)
    out = result.stdout.strip().splitlines()
    assert out[-1] == 'kept', result.stdout + result.stderr[-2000:]
    assert 'ofakd_atomic_local is already registered' in out[0]
