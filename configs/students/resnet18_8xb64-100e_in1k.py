# ResNet18 trained from scratch with the official recipe: the baseline of
# the distillation configs.
_base_ = [
    '../_base_/models/resnet18_in1k.py',
    '../_base_/recipes/in1k_cnn_8xb64-100e.py',
]
