from typing import Optional

import torch
import torch.nn.functional as F
from mmpretrain.models.utils import ClsDataPreprocessor
from mmpretrain.registry import MODELS
from mmpretrain.structures import (DataSample, batch_label_to_onehot,
                                   cat_batch_labels, tensor_split)


@MODELS.register_module()
class BatchClsDataPreprocessor(ClsDataPreprocessor):
    """mmpretrain's :class:`ClsDataPreprocessor` for a batch stacked by
    mmengine's ``default_collate``, without the host waiting on the device.

    With ``collate_fn=dict(type='default_collate')`` the data loader hands
    over one ``(B, C, H, W)`` uint8 tensor (pinned with ``pin_memory=True``
    on a GPU host). It is copied to the device without blocking, and the
    channel flip (``to_rgb``) and the normalisation ``(x - mean) / std`` run
    as a fixed few batch-wide operations, whatever the batch size: the same
    arithmetic as ``ClsDataPreprocessor`` applies image by image, so the
    result is bit-identical. The labels are concatenated on the host and
    copied once, also without blocking; the one-hot scores of batch
    augments (mixup / cutmix) are built from them on the device.

    Parent differences that matter on a GPU: ``ClsDataPreprocessor`` copies
    a list batch (``pseudo_collate``) image by image and copies the labels
    with a blocking ``.to(device)``: one host-device sync per image, plus
    one. A list batch is still accepted and takes the parent's path.

    Args:
        non_blocking (bool): Copy inputs and labels to the device without
            waiting for the copy. Defaults to True.
        **kwargs: Arguments of ``ClsDataPreprocessor`` (``mean``, ``std``,
            ``to_rgb``, ``num_classes``, ``batch_augments``, ...).
    """

    def __init__(self, non_blocking: bool = True, **kwargs) -> None:
        super().__init__(**kwargs)
        self._non_blocking = non_blocking

    def forward(self, data: dict, training: bool = False) -> dict:
        """Copy, normalise and (in training) batch-augment a batch.

        Args:
            data (dict): ``inputs``, a (B, C, H, W) tensor (or a list of
                (C, H, W) tensors: the parent's path), and ``data_samples``.
            training (bool): Whether to apply the batch augments.

        Returns:
            dict: ``inputs`` (B, C, H, W) float32 on the device and the
            data samples with their labels (and scores) on the device.
        """
        inputs = data['inputs']
        if not isinstance(inputs, torch.Tensor) or self.pad_size_divisor > 1:
            return super().forward(data, training)
        inputs = self.cast_data(inputs)
        if self.to_rgb and inputs.size(1) == 3:
            inputs = inputs.flip(1)
        inputs = inputs.float()
        if self._enable_normalize:
            inputs = (inputs - self.mean) / self.std

        samples = data.get('data_samples', None)
        if not samples or not isinstance(samples[0], DataSample):
            return {'inputs': inputs, 'data_samples': samples}
        labels, splits, scores = self._batch_labels(samples)
        if training and self.batch_augments is not None \
                and scores is not None:
            inputs, scores = self.batch_augments(inputs, scores)
        if labels is not None:
            for sample, label in zip(samples, tensor_split(labels, splits)):
                sample.set_gt_label(label)
        if scores is not None:
            for sample, score in zip(samples, scores):
                sample.set_gt_score(score)
        return {'inputs': inputs, 'data_samples': samples}

    def _batch_labels(self, samples: list) -> tuple:
        """The batch's labels (concatenated on the host, one copy), their
        split indices, and its scores: the samples' ``gt_score`` or, with
        ``to_onehot``, the one-hot labels (B, num_classes)."""
        first = samples[0]
        labels: Optional[torch.Tensor] = None
        splits: list = []
        scores: Optional[torch.Tensor] = None
        if 'gt_label' in first:
            labels, splits = cat_batch_labels(
                [sample.gt_label for sample in samples])
            labels = labels.to(self.device, non_blocking=self._non_blocking)
        if 'gt_score' in first:
            scores = torch.stack([sample.gt_score for sample in samples]).to(
                self.device, non_blocking=self._non_blocking)
        elif self.to_onehot and labels is not None:
            num_classes = self.num_classes or first.get('num_classes')
            if num_classes is None:
                raise ValueError(
                    'One-hot labels (to_onehot, or batch_augments) need the '
                    'number of classes: set `num_classes` in the '
                    'data_preprocessor.')
            if splits == list(range(1, len(samples))):  # one label each
                scores = F.one_hot(labels, num_classes)
            else:
                scores = batch_label_to_onehot(labels, splits, num_classes)
        return labels, splits, scores
