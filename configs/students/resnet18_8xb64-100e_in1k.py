# ResNet18 trained from scratch: the baseline of the distillation configs.
_base_ = '../_base_/recipes/in1k_cnn_8xb64-100e.py'

model = _base_.resnet18
