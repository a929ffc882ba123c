# MobileNetV2 trained from scratch with the official recipe: the baseline of
# the distillation configs.
_base_ = [
    '../_base_/models/mobilenet-v2_cifar100.py',
    '../_base_/recipes/cifar100_cnn_8xb128-300e.py',
]
