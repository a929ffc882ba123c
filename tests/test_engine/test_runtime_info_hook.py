"""BatchedRuntimeInfoHook (the runtime configs' ``runtime_info``): a
training iteration's logged values reach the message hub as numbers read
from the device in one copy, not one ``.item()`` (a host-device sync on a
GPU) each."""
import collections
import traceback

import torch
from mmengine.runner import Runner
from torch.utils._python_dispatch import TorchDispatchMode

from ofakd_mm.engine.hooks import read_scalars
from conftest import OFA_DIGITS_CFG, small_config


class ScalarReads(TorchDispatchMode):
    """Where tensor values are read into Python (``.item()``, ``float()``:
    ``aten::_local_scalar_dense``) inside it, by the reading file."""

    def __init__(self):
        super().__init__()
        self.files = collections.Counter()

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        if func is torch.ops.aten._local_scalar_dense.default:
            caller = [f.filename for f in traceback.extract_stack()
                      if '/torch/' not in f.filename and
                      f.filename != __file__][-1]
            self.files[caller.split('site-packages/')[-1]] += 1
        return func(*args, **(kwargs or {}))


def test_read_scalars_reads_each_dtype_once():
    values = dict(loss=torch.tensor(1.5), acc=torch.tensor([25.]),
                  count=torch.tensor(3), vector=torch.ones(2), name='x')
    with ScalarReads() as reads:
        out = read_scalars(values)
    assert out['loss'] == 1.5 and out['acc'] == 25.0 and out['count'] == 3
    assert isinstance(out['count'], int) and isinstance(out['loss'], float)
    assert out['vector'] is values['vector'] and out['name'] == 'x'
    assert not reads.files  # tolist: one copy, no per-value read


def test_a_training_iteration_logs_without_a_read_per_value(
        tmp_path, digits_teacher_ckpt):
    cfg = small_config(OFA_DIGITS_CFG, str(tmp_path), epochs=1, samples=32,
                       **{'model.teacher_ckpt': digits_teacher_ckpt})
    assert cfg.default_hooks.runtime_info.type == 'BatchedRuntimeInfoHook'
    runner = Runner.from_cfg(cfg)
    loop = runner.train_loop
    run_iter, train_step = loop.run_iter, runner.model.train_step
    reads, outputs = ScalarReads(), {}

    def recorded_train_step(*args, **kwargs):
        outputs.update(train_step(*args, **kwargs))
        return outputs

    def second_iter(idx, data_batch):
        if idx != 1:
            return run_iter(idx, data_batch)
        runner.model.train_step = recorded_train_step
        with reads:
            return run_iter(idx, data_batch)

    loop.run_iter = second_iter
    runner.train()
    assert len(outputs) >= 7  # student loss, loss_kd, 4 exits, total
    hub = runner.message_hub
    for key, value in outputs.items():
        logged = hub.get_scalar(f'train/{key}').current()
        assert logged == float(value.detach()), key
    assert not any('mmengine/logging' in f for f in reads.files), reads.files
