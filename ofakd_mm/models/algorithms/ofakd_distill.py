from typing import Dict, Sequence, Union

from mmengine.model import BaseModel
from mmrazor.registry import MODELS

from ..distillers import OFAKDDistiller
from .frozen_teacher_distill import FrozenTeacherDistill


@MODELS.register_module()
class OFAKDDistill(FrozenTeacherDistill):
    """OFA-KD: "One-for-All" heterogeneous knowledge distillation.

    https://arxiv.org/abs/2310.19444. A :class:`FrozenTeacherDistill` whose
    :class:`OFAKDDistiller` builds its exit-branch projectors from a dry-run
    forward at ``input_size``, here in ``__init__``, so that they are in the
    optimizer, in DDP and in checkpoints.

    Args:
        distiller (dict): Config of an ``OFAKDDistiller``.
        teacher (dict | BaseModel): Config of the teacher, or the model.
        input_size (int | tuple[int, int]): Training image size (H, W) used
            for the dry run. Defaults to 224.
        **kwargs: Arguments of :class:`FrozenTeacherDistill`
            (``architecture``, ``teacher_ckpt``, ``gt_loss_weight``, ...).
    """

    def __init__(self,
                 distiller: dict,
                 teacher: Union[BaseModel, Dict],
                 input_size: Union[int, Sequence[int]] = 224,
                 **kwargs) -> None:
        super().__init__(distiller, teacher, **kwargs)
        if not isinstance(self.distiller, OFAKDDistiller):
            raise TypeError('OFAKDDistill needs distiller type '
                            f'OFAKDDistiller, got {type(self.distiller)}.')
        self.input_size = input_size
        self.distiller.build_projectors(self.student, self.teacher,
                                        input_size)
        self.to_memory_format()
