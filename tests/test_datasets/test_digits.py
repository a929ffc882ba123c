import numpy as np
import pytest
from mmpretrain.registry import DATASETS

from ofakd_mm.datasets import split_indices


def build(split, **kwargs):
    return DATASETS.build(dict(type='DigitsDataset', split=split, **kwargs))


def test_fixed_disjoint_stratified_split():
    sets = {s: build(s) for s in ('train', 'val', 'test')}
    assert {s: len(d) for s, d in sets.items()} == {
        'train': 1078, 'val': 359, 'test': 360
    }
    from sklearn.datasets import load_digits
    labels = load_digits().target
    idx = {s: set(split_indices(labels, s)) for s in sets}
    assert not idx['train'] & idx['val'] and not idx['val'] & idx['test']
    assert len(idx['train'] | idx['val'] | idx['test']) == 1797
    # the same split every time, every class in every split
    assert np.array_equal(split_indices(labels, 'val'),
                          split_indices(labels, 'val'))
    for s, d in sets.items():
        classes = {d.get_data_info(i)['gt_label'] for i in range(len(d))}
        assert classes == set(range(10)), s


def test_images_upsampled_by_the_pipeline():
    ds = build('val', pipeline=[dict(type='Resize', scale=(32, 32)),
                                dict(type='PackInputs')])
    sample = ds[0]
    assert tuple(sample['inputs'].shape) == (3, 32, 32)
    assert sample['inputs'].dtype.is_floating_point is False
    raw = ds.get_data_info(0)['img']
    assert raw.shape == (8, 8, 3) and raw.max() <= 255 and raw.max() > 100


def test_bad_split_is_rejected():
    with pytest.raises(ValueError, match='split must be one of'):
        build('training')
