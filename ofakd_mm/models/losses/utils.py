from typing import Union

import torch


def target_class_index(gt_labels: Union[torch.Tensor, list],
                       preds: torch.Tensor,
                       loss_name: str = 'The loss') -> torch.Tensor:
    """The (B,) int64 target class of hard or soft labels.

    Args:
        gt_labels (Tensor | list): Class indices (B,) (or (B, 1)), or soft
            scores (B, K) from label smoothing, mixup or cutmix, whose argmax
            is the target.
        preds (Tensor): The (B, K) logits the labels belong to.
        loss_name (str): Named in error messages.

    Returns:
        Tensor: (B,) class indices on the device of ``preds``.
    """
    batch, num_classes = preds.shape
    labels = torch.as_tensor(gt_labels, device=preds.device)
    if labels.dim() == 2 and labels.shape[1] != 1:
        if labels.shape != (batch, num_classes):
            raise ValueError(
                f'{loss_name} got soft labels of shape {tuple(labels.shape)} '
                f'for logits of shape {(batch, num_classes)}.')
        return labels.argmax(dim=1)
    labels = labels.reshape(-1).long()
    if labels.numel() != batch:
        raise ValueError(f'{loss_name} got {labels.numel()} labels for a '
                         f'batch of {batch} logits.')
    # Checked on the CPU only: on an accelerator the check would stall the
    # step with a device sync per loss, and F.one_hot asserts there anyway.
    if labels.device.type == 'cpu' and labels.numel() and (
            labels.min() < 0 or labels.max() >= num_classes):
        raise ValueError(
            f'{loss_name} got a class index outside [0, {num_classes}): the '
            'dataset has more classes than the heads.')
    return labels


def check_logit_pair(preds_S: torch.Tensor, preds_T: torch.Tensor,
                     loss_name: str = 'The loss') -> None:
    """Raise a clear error unless student and teacher logits are both
    (B, K) with the same K."""
    if preds_S.dim() != 2 or preds_S.shape != preds_T.shape:
        raise ValueError(
            f'{loss_name} needs student and teacher logits of the same shape '
            f'(B, num_classes), got {tuple(preds_S.shape)} and '
            f'{tuple(preds_T.shape)}: check that both heads have the same '
            'num_classes.')
