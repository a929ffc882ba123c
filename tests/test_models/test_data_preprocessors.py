"""BatchClsDataPreprocessor: a stacked batch (mmengine's default_collate)
copied without blocking and normalised in a fixed number of batch-wide
operations. Bit-identity with mmpretrain's per-image path on the real
configs' pipelines: tests/test_datasets/test_real_data_configs.py."""
import collections

import pytest
import torch
from mmengine.dataset import default_collate, pseudo_collate
from mmpretrain.registry import MODELS
from mmpretrain.structures import DataSample
from torch.profiler import ProfilerActivity, profile
from torch.utils._python_dispatch import TorchDispatchMode

import ofakd_mm  # noqa: F401

#: ATen ops that only make a view (no kernel runs on a device): one per
#: sample for the per-sample label views the classification heads read.
VIEW_OPS = {'aten::slice', 'aten::select', 'aten::as_strided'}


def samples(n: int, size: int = 8) -> list:
    g = torch.Generator().manual_seed(0)
    return [
        dict(inputs=torch.randint(0, 256, (3, size, size), dtype=torch.uint8,
                                  generator=g),
             data_samples=DataSample().set_gt_label(i % 10))
        for i in range(n)
    ]


def build(kind: str = 'BatchClsDataPreprocessor', mixup: bool = True):
    return MODELS.build(dict(
        type=kind, mean=[120., 110., 100.], std=[60., 50., 40.],
        to_rgb=True, num_classes=10,
        batch_augments=dict(augments=[dict(type='Mixup', alpha=0.8)])
        if mixup else None))


def aten_ops(kind: str, collate, n: int) -> collections.Counter:
    """ATen ops (nested ones too) of preprocessing a training batch of n."""
    preprocessor, data = build(kind), collate(samples(n))
    torch.manual_seed(0)
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        preprocessor(data, True)
    return collections.Counter(
        e.name for e in prof.events() if e.name.startswith('aten::'))


def test_preprocessing_ops_do_not_grow_with_the_batch():
    small = aten_ops('BatchClsDataPreprocessor', default_collate, 4)
    large = aten_ops('BatchClsDataPreprocessor', default_collate, 32)
    assert small['aten::sub'] == large['aten::sub'] == 1
    grown = {op for op in large if large[op] != small[op]}
    assert grown <= VIEW_OPS, {op: (small[op], large[op]) for op in grown}
    # The same count on mmpretrain's per-image path grows with the batch.
    per_image = aten_ops('ClsDataPreprocessor', pseudo_collate, 32)
    assert per_image['aten::sub'] == 32 + 1
    assert {op for op in per_image if per_image[op] != small[op]} - VIEW_OPS


class CopyRecorder(TorchDispatchMode):
    """Records the copies to another device (``aten::_to_copy`` with a
    ``device``) made inside it."""

    def __init__(self):
        super().__init__()
        self.copies = []

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        if func is torch.ops.aten._to_copy.default and kwargs.get('device'):
            self.copies.append((tuple(args[0].shape), kwargs.get('device'),
                                kwargs.get('non_blocking', False)))
        return func(*args, **kwargs)


@pytest.mark.parametrize('non_blocking', [True, False])
def test_one_copy_for_the_images_and_one_for_the_labels(non_blocking):
    # The meta device stands in for a GPU: a copy to it is a real
    # host-to-device copy request, without the device.
    preprocessor = MODELS.build(dict(
        type='BatchClsDataPreprocessor', mean=[1., 2., 3.],
        std=[4., 5., 6.], non_blocking=non_blocking)).to('meta')
    data = default_collate(samples(16))
    with CopyRecorder() as recorder:
        out = preprocessor(data, True)
    meta = torch.device('meta')
    assert recorder.copies == [((16, 3, 8, 8), meta, non_blocking),
                               ((16, ), meta, non_blocking)]
    assert out['inputs'].device == meta
    assert out['inputs'].shape == (16, 3, 8, 8)
    assert out['data_samples'][0].gt_label.device == meta


def test_a_list_batch_takes_the_per_image_path():
    data = pseudo_collate(samples(4))
    reference = build('ClsDataPreprocessor', mixup=False)(
        pseudo_collate(samples(4)), False)
    out = build(mixup=False)(data, False)
    assert torch.equal(out['inputs'], reference['inputs'])


def test_one_hot_without_num_classes_names_the_setting():
    preprocessor = MODELS.build(dict(type='BatchClsDataPreprocessor',
                                     to_onehot=True))
    with pytest.raises(ValueError, match='set `num_classes`'):
        preprocessor(default_collate(samples(2)), True)
