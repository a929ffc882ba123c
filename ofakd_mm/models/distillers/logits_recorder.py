from typing import Any, Sequence, Tuple, Union

import torch
from mmrazor.models.task_modules.recorder import ModuleOutputsRecorder
from mmrazor.registry import TASK_UTILS
from torch import nn


def mean_logits(
        output: Union[torch.Tensor, Sequence[torch.Tensor]]) -> torch.Tensor:
    """The logits of a classifier output.

    A head that returns several logit tensors (mmpretrain's ``ConformerHead``:
    the CNN and the transformer branch) is taken as their mean, so the
    logits keep the scale of one branch, as ``DeiTClsHead`` averages its
    class and distillation heads (``ConformerHead.predict`` sums them: the
    same ranking).

    Args:
        output (Tensor | Sequence[Tensor]): (B, K) logits, or a tuple/list
            of (B, K) logits.

    Returns:
        Tensor: (B, K) logits.
    """
    if isinstance(output, torch.Tensor):
        return output
    if isinstance(output, (tuple, list)) and output and all(
            isinstance(o, torch.Tensor) for o in output):
        shapes = {tuple(o.shape) for o in output}
        if len(shapes) != 1:
            raise ValueError(
                f'The logits module returned {len(output)} tensors of shapes '
                f'{sorted(shapes)}: OFA-KD averages the logits of several '
                'heads only if they have the same shape. Point '
                '`student_logits_source`/`teacher_logits_source` at the '
                'module that outputs the final (B, num_classes) logits.')
        return torch.stack(tuple(output)).mean(dim=0)
    raise TypeError(
        f'The logits module returned a {type(output).__name__}, not (B, '
        'num_classes) logits: point `student_logits_source`/'
        '`teacher_logits_source` at the module that outputs the logits.')


@TASK_UTILS.register_module()
class OFAKDLogitsRecorder(ModuleOutputsRecorder):
    """Record a module's output as (B, K) logits: the mean of the logits if
    the module returns several (see :func:`mean_logits`), else the output.
    Config type ``'OFAKDLogits'`` in a ``RecorderManager``."""

    def forward_hook(self, module: nn.Module, inputs: Tuple,
                     outputs: Any) -> None:
        """Save the module's logits."""
        if self.recording:
            self.data_buffer.append(mean_logits(outputs))
