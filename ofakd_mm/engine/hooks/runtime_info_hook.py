from collections import defaultdict
from typing import Dict, List, Optional

import torch
from mmengine.hooks import RuntimeInfoHook
from mmengine.registry import HOOKS


def read_scalars(outputs: Dict) -> Dict:
    """``outputs`` with every one-element tensor replaced by its Python
    number, read from the device in one copy per dtype and device (one
    host-device sync for a step's losses) instead of one ``.item()`` each.

    Args:
        outputs (dict): A training step's log variables.

    Returns:
        dict: The same keys; tensors of one element are Python numbers.
    """
    groups: Dict[tuple, List[str]] = defaultdict(list)
    for key, value in outputs.items():
        if isinstance(value, torch.Tensor) and value.numel() == 1:
            groups[(value.device, value.dtype)].append(key)
    read = dict(outputs)
    for keys in groups.values():
        values = torch.stack([outputs[k].detach().reshape(()) for k in keys])
        read.update(zip(keys, values.tolist()))
    return read


@HOOKS.register_module()
class BatchedRuntimeInfoHook(RuntimeInfoHook):
    """mmengine's :class:`~mmengine.hooks.RuntimeInfoHook` reading a
    training step's log variables (losses, accuracies) from the device in
    one copy.

    ``RuntimeInfoHook`` hands each of them to the message hub, which calls
    ``.item()`` on it: one host-device sync per logged value and step (8 for
    an OFA-KD step with four exit branches). The values logged are the same
    numbers. Set it as ``default_hooks = dict(runtime_info=dict(type=
    'BatchedRuntimeInfoHook'))`` (this package's runtime configs do).
    """

    def after_train_iter(self,
                         runner,
                         batch_idx: int,
                         data_batch: Optional[dict] = None,
                         outputs: Optional[dict] = None) -> None:
        """Log the step's outputs, read in one go."""
        if outputs is not None:
            outputs = read_scalars(outputs)
        super().after_train_iter(runner, batch_idx, data_batch, outputs)
