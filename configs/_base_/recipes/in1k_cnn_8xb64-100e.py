# The paper's ImageNet-1K recipe for CNN students (ResNet18, MobileNetV2).
_base_ = [
    '../models/imagenet_nets.py',
    '../datasets/imagenet_bs64.py',
    '../schedules/sgd_step_100e_bs512.py',
    '../default_runtime.py',
]
