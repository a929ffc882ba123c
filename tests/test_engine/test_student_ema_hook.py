"""StudentEMAHook averages the student only, through a real Runner: the
teacher is not copied, checkpoints hold the averaged student where a release
reads it, and a resumed run continues the average."""
import os.path as osp

import pytest
import torch
from mmengine.model import ExponentialMovingAverage
from mmengine.runner import Runner

from ofakd_mm.engine.hooks.student_ema_hook import \
    ForeachExponentialMovingAverage
from conftest import OFA_DIGITS_CFG, small_config

EMA = dict(type='StudentEMAHook', momentum=0.5, priority='ABOVE_NORMAL')


def ema_config(work_dir, teacher_ckpt, epochs):
    cfg = small_config(OFA_DIGITS_CFG, work_dir, epochs=epochs, samples=48,
                       **{'model.teacher_ckpt': teacher_ckpt})
    cfg.custom_hooks = [EMA]
    return cfg


def ema_hook(runner):
    return next(h for h in runner.hooks if type(h).__name__ ==
                'StudentEMAHook')


def test_averages_the_student_only(tmp_path, digits_teacher_ckpt):
    runner = Runner.from_cfg(
        ema_config(str(tmp_path), digits_teacher_ckpt, 1))
    runner.train()
    hook = ema_hook(runner)
    algo = runner.model
    assert hook.src_model is algo.student
    averaged = dict(hook.ema_model.module.named_parameters())
    assert averaged.keys() == dict(algo.student.named_parameters()).keys()
    # no copy of the teacher or of the exit branches
    n_ema = sum(p.numel() for p in hook.ema_model.parameters())
    n_student = sum(p.numel() for p in algo.student.parameters())
    assert n_ema == n_student

    ckpt = torch.load(osp.join(str(tmp_path), 'epoch_1.pth'),
                      weights_only=False)
    state, ema_state = ckpt['state_dict'], ckpt['ema_state_dict']
    key = 'backbone.layers.0.ffn.layers.1.weight'
    # the averaged student sits under architecture.* (what a release
    # extracts), the raw one under the EMA's module.*
    assert torch.equal(state['architecture.' + key],
                       averaged[key].detach().cpu())
    raw = dict(algo.student.named_parameters())[key].detach()
    assert torch.equal(ema_state['module.' + key], raw)
    assert not torch.equal(raw, averaged[key].detach())
    assert not any(k.startswith('module.teacher') or
                   k.startswith('module.architecture') for k in ema_state)


def test_resume_continues_the_average(tmp_path, digits_teacher_ckpt):
    work_dir = str(tmp_path)
    first = Runner.from_cfg(ema_config(work_dir, digits_teacher_ckpt, 1))
    first.train()
    averaged = {k: v.detach().clone() for k, v in
                ema_hook(first).ema_model.module.state_dict().items()}
    raw = {k: v.detach().clone() for k, v in
           first.model.student.state_dict().items()}

    def resumed_runner():
        cfg = ema_config(work_dir, digits_teacher_ckpt, 2)
        cfg.resume = True
        cfg.load_from = osp.join(work_dir, 'epoch_1.pth')
        return Runner.from_cfg(cfg)

    # what Runner.train() does first: build the average, then resume
    runner = resumed_runner()
    runner.call_hook('before_run')
    runner.load_or_resume()
    hook = ema_hook(runner)
    for k, v in hook.ema_model.module.state_dict().items():
        assert torch.equal(v, averaged[k]), k
    for k, v in runner.model.student.state_dict().items():
        assert torch.equal(v, raw[k]), k

    runner = resumed_runner()
    runner.train()
    assert runner.epoch == 2


def _net(blocks):
    return torch.nn.Sequential(*[
        torch.nn.Sequential(torch.nn.Linear(6, 6), torch.nn.BatchNorm1d(6))
        for _ in range(blocks)
    ])


@pytest.mark.parametrize('update_buffers', [False, True])
def test_foreach_average_is_mmengines(update_buffers):
    """ForeachExponentialMovingAverage (StudentEMAHook's default) gives
    mmengine's ExponentialMovingAverage to the bit, with one multi-tensor
    op a step whatever the number of parameters."""
    torch.manual_seed(0)
    net = _net(3)
    ours = ForeachExponentialMovingAverage(net, momentum=0.3, interval=2,
                                           update_buffers=update_buffers)
    theirs = ExponentialMovingAverage(net, momentum=0.3, interval=2,
                                      update_buffers=update_buffers)
    for _ in range(5):
        with torch.no_grad():
            for p in net.parameters():
                p.add_(torch.randn_like(p))
        net(torch.randn(4, 6))  # BatchNorm running statistics move
        ours.update_parameters(net)
        theirs.update_parameters(net)
    for (key, a), b in zip(ours.module.state_dict().items(),
                           theirs.module.state_dict().values()):
        assert torch.equal(a, b), key
    assert not torch.equal(ours.module[0][0].weight, net[0][0].weight)

    def top_level_ops(blocks):
        model = _net(blocks)
        ema = ForeachExponentialMovingAverage(model, momentum=0.3)
        ema.update_parameters(model)  # the first call copies
        with torch.profiler.profile() as prof:
            ema.update_parameters(model)
        return sorted(e.name for e in prof.events()
                      if e.name.startswith('aten::') and
                      (e.cpu_parent is None or
                       not e.cpu_parent.name.startswith('aten::')))

    assert top_level_ops(2) == top_level_ops(12)
    assert 'aten::_foreach_lerp_' in top_level_ops(2)
