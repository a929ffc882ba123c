"""DigitsDataset: the fixed split every digits number in the README was
measured on, pinned against literal values (a changed split fails here)."""
import hashlib

import numpy as np
import pytest
from mmpretrain.registry import DATASETS
from sklearn.datasets import load_digits

from ofakd_mm.datasets import split_indices

#: Images per class in scikit-learn's digits (0..9).
CLASS_SIZES = [178, 182, 177, 183, 181, 182, 181, 179, 174, 180]
#: round(0.6 * size) and round(0.2 * size) per class, worked out by hand
#: from CLASS_SIZES; test gets the rest.
TRAIN_COUNTS = [107, 109, 106, 110, 109, 109, 109, 107, 104, 108]
VAL_COUNTS = [36, 36, 35, 37, 36, 36, 36, 36, 35, 36]
TEST_COUNTS = [35, 37, 36, 36, 36, 37, 36, 36, 35, 36]
#: sha256 of the sorted indices of each split, comma-separated, recorded
#: when the README's numbers were measured.
SPLIT_SHA256 = {
    'train':
    'fcbbc66b352d3b393e793ac101eab73e9b2402959141c7cf6e45c1057680565e',
    'val': 'bb45e75412edaef881eb156f3125a687ee1bc7775dd000a52128811d247a1440',
    'test':
    'fb18872163d45caf464f92cffdbe66a5a81396ece9986f0b94c6a4059413409e',
    'train20':
    '2b98df36266ac694be4426e6f4eae002b699b9d1eba0945dca11941c1529bb8a',
}
FIRST_INDICES = {
    'train': [2, 3, 5, 6, 7, 8, 9, 12],
    'val': [0, 1, 4, 10, 11, 17, 25, 32],
    'test': [21, 24, 28, 34, 35, 37, 39, 42],
    'train20': [13, 19, 43, 48, 55, 60, 65, 66],
}


def build(split, **kwargs):
    return DATASETS.build(dict(type='DigitsDataset', split=split, **kwargs))


def sha256(indices) -> str:
    return hashlib.sha256(','.join(str(int(i)) for i in indices).encode()
                          ).hexdigest()


@pytest.fixture(scope='module')
def labels():
    return load_digits().target


def test_hand_counts_add_up():
    # the literals above are consistent with each other
    assert [a + b + c for a, b, c in zip(TRAIN_COUNTS, VAL_COUNTS,
                                         TEST_COUNTS)] == CLASS_SIZES
    assert TRAIN_COUNTS == [int(np.floor(0.6 * n + 0.5))
                            for n in CLASS_SIZES]


@pytest.mark.parametrize('split, counts', [('train', TRAIN_COUNTS),
                                           ('val', VAL_COUNTS),
                                           ('test', TEST_COUNTS)])
def test_split_is_the_recorded_one(labels, split, counts):
    assert np.bincount(labels).tolist() == CLASS_SIZES
    indices = split_indices(labels, split)
    assert sha256(indices) == SPLIT_SHA256[split]
    assert indices[:8].tolist() == FIRST_INDICES[split]
    assert np.bincount(labels[indices], minlength=10).tolist() == counts
    dataset = build(split)
    assert len(dataset) == sum(counts)
    got = [dataset.get_data_info(i)['gt_label'] for i in range(len(dataset))]
    assert np.bincount(got, minlength=10).tolist() == counts


def test_splits_are_disjoint_and_cover_the_data(labels):
    idx = {s: set(split_indices(labels, s)) for s in ('train', 'val', 'test')}
    assert not idx['train'] & idx['val']
    assert not idx['train'] & idx['test']
    assert not idx['val'] & idx['test']
    assert len(idx['train'] | idx['val'] | idx['test']) == 1797


def test_images_per_class_subset(labels):
    train20 = split_indices(labels, 'train', per_class=20)
    assert sha256(train20) == SPLIT_SHA256['train20']
    assert train20[:8].tolist() == FIRST_INDICES['train20']
    assert np.bincount(labels[train20]).tolist() == [20] * 10
    # nested: fewer images per class keep a subset, all from train
    train5 = split_indices(labels, 'train', per_class=5)
    assert set(train5) < set(train20) < set(split_indices(labels, 'train'))
    # more than a class has: the whole class
    assert np.array_equal(split_indices(labels, 'val', per_class=1000),
                          split_indices(labels, 'val'))
    dataset = build('train', per_class=20)
    assert len(dataset) == 200
    first = dataset.get_data_info(0)
    images = np.round(load_digits().images * (255.0 / 16.0))
    assert np.array_equal(first['img'][:, :, 0], images[train20[0]])
    assert first['gt_label'] == labels[train20[0]]


def test_images_upsampled_by_the_pipeline():
    ds = build('val', pipeline=[dict(type='Resize', scale=(16, 16)),
                                dict(type='PackInputs')])
    sample = ds[0]
    assert tuple(sample['inputs'].shape) == (3, 16, 16)
    assert sample['inputs'].dtype.is_floating_point is False
    raw = ds.get_data_info(0)['img']
    assert raw.shape == (8, 8, 3) and raw.max() <= 255 and raw.max() > 100


@pytest.mark.parametrize('kwargs, match', [
    (dict(split='training'), 'split must be one of'),
    (dict(split='train', per_class=0), 'per_class must be a positive'),
])
def test_bad_arguments_are_rejected(kwargs, match):
    with pytest.raises(ValueError, match=match):
        build(**kwargs)
