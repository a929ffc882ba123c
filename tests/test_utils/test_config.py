"""Model configs by reference (``dict(cfg_path=..., **overrides)``)."""
import os.path as osp

import pytest
from mmrazor.registry import MODELS

from ofakd_mm.utils import config_file, resolve_model_cfg

MODEL_FILE = '''
default_scope = 'mmpretrain'
data_preprocessor = dict(num_classes=7, mean=[127.5] * 3, std=[127.5] * 3,
                         to_rgb=True, batch_augments=dict(augments=[]))
model = dict(
    type='ImageClassifier',
    backbone=dict(type='ResNet_CIFAR', depth=18, base_channels=8,
                  out_indices=(3, )),
    neck=dict(type='GlobalAveragePooling'),
    head=dict(type='LinearClsHead', num_classes=7, in_channels=64,
              loss=dict(type='CrossEntropyLoss')))
'''


@pytest.fixture
def model_file(tmp_path):
    path = tmp_path / 'net.py'
    path.write_text(MODEL_FILE)
    return str(path)


def test_reference_resolves_with_overrides(model_file):
    cfg = resolve_model_cfg(
        dict(cfg_path=model_file, head=dict(num_classes=3),
             neck=dict(_delete_=True, type='GlobalAveragePooling', dim=2)))
    assert cfg['type'] == 'ImageClassifier'
    assert cfg['_scope_'] == 'mmpretrain'
    assert cfg['head']['num_classes'] == 3
    assert cfg['head']['in_channels'] == 64  # kept from the file
    assert cfg['neck'] == dict(type='GlobalAveragePooling', dim=2)
    # the normalisation the weights expect travels with the model; batch
    # augments and num_classes belong to the run
    assert cfg['data_preprocessor'] == dict(
        mean=[127.5] * 3, std=[127.5] * 3, to_rgb=True)


def test_plain_configs_pass_through():
    plain = dict(type='ImageClassifier')
    assert resolve_model_cfg(plain) is plain
    assert resolve_model_cfg(None) is None


def test_package_references():
    ours = config_file('ofakd_mm::_base_/default_runtime.py')
    assert osp.isfile(ours)
    theirs = resolve_model_cfg(
        dict(cfg_path='mmpretrain::resnet/resnet18_8xb32_in1k.py'))
    assert theirs['backbone'] == dict(
        type='ResNet', depth=18, num_stages=4, out_indices=(3, ),
        style='pytorch')
    assert theirs['data_preprocessor']['mean'] == [123.675, 116.28, 103.53]


@pytest.mark.parametrize('cfg_path, match', [
    ('ofakd_mm::_base_/models/no_such_net.py', 'no config file'),
    ('no_such_package::a/b.py', 'not installed'),
])
def test_bad_references_name_cfg_path(cfg_path, match):
    with pytest.raises(FileNotFoundError, match=match) as info:
        resolve_model_cfg(dict(cfg_path=cfg_path))
    assert 'cfg_path' in str(info.value)


def test_pretrained_is_refused(model_file):
    with pytest.raises(ValueError, match='teacher_ckpt'):
        resolve_model_cfg(dict(cfg_path=model_file, pretrained=True))


def test_distill_algorithm_builds_from_references(model_file):
    algo = MODELS.build(
        dict(_scope_='mmrazor', type='FrozenTeacherDistill',
             architecture=dict(cfg_path=model_file),
             teacher=dict(cfg_path=model_file, head=dict(num_classes=7)),
             distiller=dict(type='ConfigurableDistiller')))
    assert type(algo.student.backbone).__name__ == 'ResNet_CIFAR'
    assert algo.teacher.head.num_classes == 7
    # the teacher's own normalisation is built with it
    assert algo.teacher.data_preprocessor.mean.flatten().tolist() == \
        [127.5] * 3


def test_a_reference_beside_the_config_resolves_from_any_cwd(
        tmp_path, monkeypatch):
    """``{{fileDirname}}`` names the folder of the config that contains it
    (mmengine substitutes it, as it resolves ``_base_``); a bare relative
    path would depend on the working directory and is refused."""
    from mmengine.config import Config
    folder = tmp_path / 'my_configs'
    folder.mkdir()
    (folder / 'net.py').write_text(MODEL_FILE)
    (folder / 'distill.py').write_text(
        "model = dict(architecture=dict(cfg_path='{{fileDirname}}/net.py'),"
        " teacher=dict(cfg_path='net.py'))\n")
    elsewhere = tmp_path / 'elsewhere'
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    cfg = Config.fromfile(str(folder / 'distill.py'))
    student = resolve_model_cfg(cfg.model.architecture)
    assert student['head']['num_classes'] == 7
    monkeypatch.chdir(folder)  # even where the file is, relative is refused
    with pytest.raises(ValueError, match='fileDirname') as info:
        resolve_model_cfg(cfg.model.teacher)
    assert "'net.py' is relative" in str(info.value)
