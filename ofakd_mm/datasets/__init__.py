from .digits import DigitsDataset, split_indices

__all__ = ['DigitsDataset', 'split_indices']
