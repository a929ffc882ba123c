# The official ImageNet-1K recipe of the CNN students (ResNet18,
# MobileNetV2): github.com/Hao840/OFAKD configs/imagenet/cnn.yaml on 8 GPUs.
# Evaluation with ResNet18's timm test transform.
_base_ = [
    '../datasets/imagenet_bs64.py',
    '../schedules/sgd_step_100e_bs512.py',
    '../default_runtime.py',
]
