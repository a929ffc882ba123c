from typing import List, Optional, Sequence

import numpy as np
from mmpretrain.datasets import BaseDataset
from mmpretrain.registry import DATASETS

SPLITS = ('train', 'val', 'test')


def split_indices(labels: np.ndarray,
                  split: str,
                  seed: int = 0,
                  fractions: Sequence[float] = (0.6, 0.2, 0.2),
                  per_class: Optional[int] = None) -> np.ndarray:
    """Indices of one split of a fixed, per-class (stratified) split.

    Each class's samples are shuffled once by ``np.random.RandomState(seed)``
    (whose stream numpy keeps unchanged across versions), then cut into
    train, val and test in that order.

    Args:
        labels (np.ndarray): (N,) class of every sample.
        split (str): ``'train'``, ``'val'`` or ``'test'``.
        seed (int): Seed of the fixed permutation. Defaults to 0.
        fractions (Sequence[float]): Train/val/test fractions. Defaults to
            60/20/20.
        per_class (int, optional): Keep only the first ``per_class`` samples
            of each class of the split (in the shuffled order, so a smaller
            value keeps a subset of a larger one). Defaults to None (all).

    Returns:
        np.ndarray: Sorted indices of the split.
    """
    if split not in SPLITS:
        raise ValueError(f'split must be one of {SPLITS}, got {split!r}.')
    if per_class is not None and per_class < 1:
        raise ValueError(
            f'per_class must be a positive number of images per class or '
            f'None (all), got {per_class!r}.')
    rng = np.random.RandomState(seed)
    chosen = []
    for c in np.unique(labels):
        idx = rng.permutation(np.flatnonzero(labels == c))
        n_train = int(round(fractions[0] * len(idx)))
        n_val = int(round(fractions[1] * len(idx)))
        bounds = {'train': (0, n_train), 'val': (n_train, n_train + n_val),
                  'test': (n_train + n_val, len(idx))}[split]
        chosen.append(idx[bounds[0]:bounds[1]][:per_class])
    return np.sort(np.concatenate(chosen))


@DATASETS.register_module()
class DigitsDataset(BaseDataset):
    """scikit-learn's bundled handwritten digits (1,797 real 8x8 grey images,
    10 classes) as an mmpretrain dataset; nothing is downloaded.

    Images are given to the pipeline as (8, 8, 3) uint8 arrays (grey repeated
    on 3 channels, 0..16 scaled to 0..255); resize them in the pipeline.
    The train/val/test split (60/20/20 per class) is fixed by ``seed``.

    Args:
        split (str): ``'train'``, ``'val'`` or ``'test'``.
        seed (int): Seed of the split. Defaults to 0.
        per_class (int, optional): Keep only this many images of each class
            of the split (the same ones every time; a smaller value keeps a
            subset of a larger one). Defaults to None (the whole split).
        **kwargs: Arguments of :class:`mmpretrain.datasets.BaseDataset`
            (``pipeline``, ``test_mode``, ...).
    """

    METAINFO = {'classes': tuple(str(i) for i in range(10))}

    def __init__(self,
                 split: str = 'train',
                 seed: int = 0,
                 per_class: Optional[int] = None,
                 **kwargs) -> None:
        if split not in SPLITS:
            raise ValueError(
                f'DigitsDataset split must be one of {SPLITS}, got {split!r}.')
        if per_class is not None and per_class < 1:
            raise ValueError(
                'DigitsDataset per_class must be a positive number of images '
                f'per class or None (the whole split), got {per_class!r}.')
        self.split = split
        self.seed = seed
        self.per_class = per_class
        kwargs.setdefault('ann_file', '')
        super().__init__(**kwargs)

    def load_data_list(self) -> List[dict]:
        from sklearn.datasets import load_digits
        digits = load_digits()
        images = np.round(digits.images * (255.0 / 16.0)).astype(np.uint8)
        labels = digits.target.astype(np.int64)
        data_list = []
        for i in split_indices(labels, self.split, self.seed,
                               per_class=self.per_class):
            img = np.repeat(images[i][:, :, None], 3, axis=2)
            data_list.append(dict(img=img, gt_label=int(labels[i])))
        return data_list

    def extra_repr(self) -> Optional[List[str]]:
        return [f'Split: \t{self.split}', f'Seed: \t{self.seed}',
                f'Images per class: \t{self.per_class or "all"}']
