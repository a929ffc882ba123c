from typing import Union

import torch
import torch.nn.functional as F
from mmrazor.models.losses import DKDLoss
from mmrazor.registry import MODELS

from .utils import check_logit_pair, target_class_index


@MODELS.register_module()
class BatchMeanDKDLoss(DKDLoss):
    """Decoupled Knowledge Distillation (DKD, CVPR 2022) averaged over the
    batch, for hard or soft labels.

    The loss of the DKD paper, ``alpha * TCKD + beta * NCKD`` with both KL
    terms multiplied by ``tau ** 2`` and divided by the batch size. MMRazor's
    :class:`DKDLoss` sums over the batch whatever ``reduction`` says (its
    ``F.kl_div(..., size_average=False)`` overrides it), so its value grows
    with the batch, and it fails on the (B, K) soft scores that label
    smoothing, mixup and cutmix give; here the target class of soft scores is
    their argmax.

    Args:
        tau (float): Temperature, > 0. Defaults to 1.0.
        alpha (float): Weight of the target-class term (TCKD). Defaults to
            1.0.
        beta (float): Weight of the non-target-class term (NCKD). Defaults
            to 1.0.
        loss_weight (float): Weight of the loss. Defaults to 1.0.
    """

    def __init__(self,
                 tau: float = 1.0,
                 alpha: float = 1.0,
                 beta: float = 1.0,
                 loss_weight: float = 1.0) -> None:
        if not tau > 0:
            raise ValueError(f'BatchMeanDKDLoss tau must be > 0, got {tau}; '
                             'the DKD paper uses 1 (ImageNet) or 4 (CIFAR).')
        super().__init__(
            tau=tau, alpha=alpha, beta=beta, reduction='batchmean',
            loss_weight=loss_weight)

    def forward(self, preds_S: torch.Tensor, preds_T: torch.Tensor,
                gt_labels: Union[torch.Tensor, list]) -> torch.Tensor:
        """Compute the loss.

        Args:
            preds_S (Tensor): Student logits, (B, K).
            preds_T (Tensor): Teacher logits, (B, K).
            gt_labels (Tensor): Class indices (B,), or soft scores (B, K)
                whose argmax is the target class.

        Returns:
            Tensor: The weighted scalar loss.
        """
        check_logit_pair(preds_S, preds_T, 'BatchMeanDKDLoss')
        target = target_class_index(gt_labels, preds_S, 'BatchMeanDKDLoss')
        return super().forward(preds_S.float(), preds_T.detach().float(),
                               target)

    def _kl_loss(self, preds_S: torch.Tensor,
                 preds_T: torch.Tensor) -> torch.Tensor:
        """KL divergence summed over classes, averaged over the batch, times
        ``tau ** 2``."""
        kl = F.kl_div(preds_S, preds_T, reduction='sum')
        return kl * self.tau**2 / preds_S.size(0)
