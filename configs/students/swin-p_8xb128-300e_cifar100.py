# Swin-P trained from scratch: the baseline of the distillation configs.
_base_ = '../_base_/recipes/cifar100_vit_8xb128-300e.py'

model = _base_.swin_p
