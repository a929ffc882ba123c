import torch
import torch.nn as nn
import torch.nn.functional as F
from mmrazor.registry import MODELS

from .utils import check_logit_pair, target_class_index


@MODELS.register_module()
class OFAKDLoss(nn.Module):
    """Target-enhanced distillation loss of OFA-KD.

    With ``p_T = softmax(z_T / tau)``, ``p_S = softmax(z_S / tau)`` and the
    one-hot target ``y``, each class is weighted by ``(p_T + y) ** eps - y``
    and the loss is the batch mean of ``-sum_c weight_c * log p_S,c``: the
    target class gets ``(1 + p_T) ** eps - 1``, every other class
    ``p_T ** eps``. ``eps = 1`` is plain KD cross-entropy (no ``tau ** 2``).
    It is computed with ``log_softmax`` in float32 (float64 inputs stay
    float64), also under autocast.

    Args:
        eps (float): Target-enhancement exponent, > 0. Defaults to 1.0.
        temperature (float): Softmax temperature, > 0. Defaults to 1.0.
        loss_weight (float): Weight of the loss. Defaults to 1.0.
    """

    def __init__(self,
                 eps: float = 1.0,
                 temperature: float = 1.0,
                 loss_weight: float = 1.0) -> None:
        super().__init__()
        if not eps > 0:
            raise ValueError(f'OFAKDLoss eps must be > 0, got {eps}; the '
                             'paper uses values in [1.0, 1.5].')
        if not temperature > 0:
            raise ValueError(
                f'OFAKDLoss temperature must be > 0, got {temperature}; '
                'the paper uses 1.0.')
        self.eps = float(eps)
        self.temperature = float(temperature)
        self.loss_weight = loss_weight

    def forward(self, preds_S: torch.Tensor, preds_T: torch.Tensor,
                gt_labels: torch.Tensor) -> torch.Tensor:
        """Compute the loss.

        Args:
            preds_S (Tensor): Student (or exit-branch) logits, (B, K).
            preds_T (Tensor): Teacher logits, (B, K).
            gt_labels (Tensor): Class indices (B,), or soft scores (B, K)
                from label smoothing, mixup or cutmix (their argmax is the
                target class).

        Returns:
            Tensor: The weighted scalar loss.
        """
        check_logit_pair(preds_S, preds_T, 'OFAKDLoss')
        target = target_class_index(gt_labels, preds_S, 'OFAKDLoss')
        # float32 at least: half-precision logits would overflow.
        dtype = torch.promote_types(preds_S.dtype, torch.float32)
        with torch.autocast(device_type=preds_S.device.type, enabled=False):
            log_p_s = F.log_softmax(
                preds_S.to(dtype) / self.temperature, dim=1)
            p_t = F.softmax(
                preds_T.detach().to(dtype) / self.temperature, dim=1)
            one_hot = F.one_hot(target, preds_S.size(1)).to(p_t.dtype)
            weight = (p_t + one_hot).pow(self.eps) - one_hot
            loss = -(weight * log_p_s).sum(dim=1).mean()
        return self.loss_weight * loss
