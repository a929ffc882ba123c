# The paper's CIFAR-100 recipe for CNN students (ResNet18, MobileNetV2).
_base_ = [
    '../models/cifar100_nets.py',
    '../datasets/cifar100_bs128_224px.py',
    '../schedules/sgd_cos_300e_bs1024.py',
    '../default_runtime.py',
]
