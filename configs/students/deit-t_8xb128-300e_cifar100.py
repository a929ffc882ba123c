# DeiT-T trained from scratch with the official recipe: the baseline of
# the distillation configs.
_base_ = [
    '../_base_/models/deit-t_cifar100.py',
    '../_base_/recipes/cifar100_vit_8xb128-300e.py',
]
