from typing import Any, List, Optional, Tuple

import torch
from mmrazor.models.task_modules.recorder import ModuleOutputsRecorder
from mmrazor.registry import TASK_UTILS
from torch import nn

from ..utils import stage_feature


def _feature_tensor(feature: Any) -> Optional[torch.Tensor]:
    if isinstance(feature, (tuple, list)):
        feature = feature[0] if feature else None
    return feature if isinstance(feature, torch.Tensor) else None


@TASK_UTILS.register_module()
class OFAKDStageRecorder(ModuleOutputsRecorder):
    """Record a stage module's output as its exit branch takes it (see
    :func:`ofakd_mm.models.utils.stage_feature`: the token streams of a
    reversible block are concatenated), noting the tensor's in-place
    version so that a later in-place change is seen.

    Config type ``'OFAKDStage'`` in a ``RecorderManager``.

    Args:
        source (str): The stage module, named from the model root.
        copy (bool): Record a copy: for a stage whose output the forward
            changes in place after the stage (TNT's next layer writes into
            its patch tokens), so that the branch sees the stage's output.
            Defaults to False.
    """

    def __init__(self, source: str, copy: bool = False, **kwargs) -> None:
        super().__init__(source, **kwargs)
        self.copy = copy
        self._versions: List[int] = []

    def forward_hook(self, module: nn.Module, inputs: Tuple,
                     outputs: Any) -> None:
        """Save the stage feature (a copy if ``copy``)."""
        if not self.recording:
            return
        feature = stage_feature(outputs)
        if self.copy:
            if isinstance(feature, torch.Tensor):
                feature = feature.clone()
            elif isinstance(feature, (tuple, list)):
                feature = type(feature)(
                    f.clone() if isinstance(f, torch.Tensor) else f
                    for f in feature)
        tensor = _feature_tensor(feature)
        self._versions.append(tensor._version if tensor is not None else 0)
        self.data_buffer.append(feature)

    def changed_since_recorded(self) -> bool:
        """Whether a recorded tensor was changed in place after it was
        recorded (call after the forward)."""
        for feature, version in zip(self.data_buffer, self._versions):
            tensor = _feature_tensor(feature)
            if tensor is not None and tensor._version != version:
                return True
        return False

    def reset_data_buffer(self) -> None:
        """Clear the records."""
        super().reset_data_buffer()
        self._versions = []
