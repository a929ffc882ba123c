"""FrozenTeacherDistill: the teacher sees its own input normalisation,
labels the heads cannot predict stop the step with an error naming
`num_classes`, an untrained teacher is reported when training starts, and
`student_trainable=False` freezes the student."""
import pytest
import torch
from mmengine.hooks import Hook
from mmengine.optim import OptimWrapper
from mmengine.runner import Runner
from mmpretrain.structures import DataSample
from mmrazor.registry import MODELS

from conftest import OFA_DIGITS_CFG, small_config

IMAGENET = dict(mean=[123.675, 116.28, 103.53], std=[58.395, 57.12, 57.375])
STUDENT = dict(
    _scope_='mmpretrain', type='ImageClassifier',
    backbone=dict(type='ResNet_CIFAR', depth=18, base_channels=8,
                  out_indices=(3, )),
    neck=dict(type='GlobalAveragePooling'),
    head=dict(type='LinearClsHead', num_classes=5, in_channels=64,
              loss=dict(type='CrossEntropyLoss')))
# A Mixer whose weights expect mean/std 127.5 in RGB, as timm's Mixer-B/16.
MIXER = dict(
    _scope_='mmpretrain', type='ImageClassifier',
    backbone=dict(type='MlpMixer',
                  arch=dict(embed_dims=16, num_layers=2, tokens_mlp_dims=8,
                            channels_mlp_dims=32),
                  img_size=16, patch_size=4),
    neck=dict(type='GlobalAveragePooling', dim=1),
    head=dict(type='LinearClsHead', num_classes=5, in_channels=16,
              loss=dict(type='CrossEntropyLoss')),
    data_preprocessor=dict(mean=[127.5] * 3, std=[127.5] * 3, to_rgb=True))


def build(**kwargs):
    cfg = dict(
        _scope_='mmrazor', type='FrozenTeacherDistill',
        architecture=STUDENT, teacher=MIXER,
        data_preprocessor=dict(type='mmpretrain.ClsDataPreprocessor',
                               to_rgb=True, **IMAGENET),
        distiller=dict(type='ConfigurableDistiller'))
    cfg.update(kwargs)
    return MODELS.build(cfg)


def raw_batch(labels=(0, 1, 2, 3)):
    g = torch.Generator().manual_seed(0)
    images = [torch.randint(0, 256, (3, 16, 16), dtype=torch.uint8,
                            generator=g) for _ in labels]
    samples = [DataSample().set_gt_label(int(y)) for y in labels]
    return dict(inputs=images, data_samples=samples)


def inputs_of(algo, batch):
    """The tensors that reach the student's and the teacher's backbone in
    one training step."""
    seen = {}

    def hook(name):
        def record(module, args):
            seen[name] = args[0].detach().clone()
        return record

    handles = [algo.student.backbone.register_forward_pre_hook(
        hook('student')), algo.teacher.backbone.register_forward_pre_hook(
            hook('teacher'))]
    optim = OptimWrapper(torch.optim.SGD(algo.student.parameters(), lr=0.))
    algo.train_step(batch, optim)
    for handle in handles:
        handle.remove()
    return seen['student'], seen['teacher']


def expected(batch, mean, std):
    # the data loader's images are BGR; both preprocessors convert to RGB
    raw = torch.stack(batch['inputs']).float().flip(1)
    mean = torch.tensor(mean).view(1, 3, 1, 1)
    std = torch.tensor(std).view(1, 3, 1, 1)
    return (raw - mean) / std


def test_teacher_gets_its_own_normalisation():
    algo = build()
    batch = raw_batch()
    student_in, teacher_in = inputs_of(algo, batch)
    torch.testing.assert_close(
        student_in, expected(batch, IMAGENET['mean'], IMAGENET['std']))
    torch.testing.assert_close(
        teacher_in, expected(batch, [127.5] * 3, [127.5] * 3))


def test_explicit_and_official_teacher_input():
    batch = raw_batch()
    algo = build(teacher_data_preprocessor='student')  # the official code
    student_in, teacher_in = inputs_of(algo, batch)
    assert torch.equal(student_in, teacher_in)

    bgr = dict(mean=[10., 20., 30.], std=[2., 4., 8.], to_rgb=False)
    algo = build(teacher_data_preprocessor=bgr)
    _, teacher_in = inputs_of(algo, batch)
    raw_bgr = torch.stack(batch['inputs']).float()
    torch.testing.assert_close(
        teacher_in, (raw_bgr - torch.tensor(bgr['mean']).view(1, 3, 1, 1)) /
        torch.tensor(bgr['std']).view(1, 3, 1, 1))


def test_teacher_without_normalisation_sees_the_student_input():
    teacher = {k: v for k, v in MIXER.items() if k != 'data_preprocessor'}
    algo = build(teacher=teacher)
    assert algo.teacher_input_scale is None
    student_in, teacher_in = inputs_of(algo, raw_batch())
    assert torch.equal(student_in, teacher_in)


@pytest.mark.parametrize('setting', ['teacher', dict(mean=[0.] * 3)])
def test_bad_teacher_data_preprocessor(setting):
    with pytest.raises(ValueError, match='teacher_data_preprocessor'):
        build(teacher_data_preprocessor=setting)


@pytest.mark.parametrize('bad', [5, 9, -1])
def test_labels_beyond_the_heads_name_num_classes(bad):
    algo = build()
    with pytest.raises(ValueError, match='class index') as info:
        inputs_of(algo, raw_batch(labels=(0, 1, bad, 3)))
    assert 'model.architecture.head.num_classes' in str(info.value)
    assert 'predicts 5 classes' in str(info.value)


def test_data_preprocessor_without_type_is_the_batch_one():
    # mmpretrain's dataset base configs write the top-level
    # data_preprocessor without `type` (ImageClassifier defaults it); the
    # Runner hands it to the algorithm as it is.
    algo = build(data_preprocessor=dict(to_rgb=True, **IMAGENET))
    assert type(algo.data_preprocessor).__name__ == 'BatchClsDataPreprocessor'
    batch = raw_batch()
    stacked = dict(batch, inputs=torch.stack(batch['inputs']))
    student_in, teacher_in = inputs_of(algo, stacked)
    assert torch.equal(
        student_in, expected(batch, IMAGENET['mean'], IMAGENET['std']))
    torch.testing.assert_close(
        teacher_in, expected(batch, [127.5] * 3, [127.5] * 3))


def test_an_untrained_teacher_is_reported_when_training_starts(monkeypatch):
    """Building without `teacher_ckpt` (evaluating the student, counting
    parameters) is quiet; training with it warns, once."""
    from ofakd_mm.models.algorithms import frozen_teacher_distill
    logged = []
    monkeypatch.setattr(frozen_teacher_distill, 'print_log',
                        lambda message, **kwargs: logged.append(message))
    algo = build()
    assert logged == []
    inputs_of(algo, raw_batch())
    inputs_of(algo, raw_batch())
    assert len(logged) == 1 and 'teacher_ckpt' in logged[0]


class WeightsAtStart(Hook):
    """The parameters of the student and the distiller when training
    starts (after the runner's weight initialisation)."""

    def before_train(self, runner) -> None:
        model = runner.model
        self.student = {k: v.detach().clone()
                        for k, v in model.student.named_parameters()}
        self.distiller = {k: v.detach().clone()
                          for k, v in model.distiller.named_parameters()}


def test_student_trainable_false_trains_only_the_exit_branches(
        tmp_path, digits_teacher_ckpt):
    cfg = small_config(
        OFA_DIGITS_CFG, str(tmp_path), epochs=1,
        **{'model.teacher_ckpt': digits_teacher_ckpt,
           'model.student_trainable': False})
    runner = Runner.from_cfg(cfg)
    start = WeightsAtStart()
    runner.register_hook(start)
    runner.train()
    student = dict(runner.model.student.named_parameters())
    assert all(torch.equal(student[k], v) for k, v in start.student.items())
    distiller = dict(runner.model.distiller.named_parameters())
    assert not all(torch.equal(distiller[k], v)
                   for k, v in start.distiller.items())
