# MobileNetV2 trained from scratch: the baseline of the distillation configs.
_base_ = '../_base_/recipes/cifar100_cnn_8xb128-300e.py'

model = _base_.mobilenet_v2
