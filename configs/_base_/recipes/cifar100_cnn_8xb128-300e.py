# The official CIFAR-100 recipe of the CNN students (ResNet18, MobileNetV2):
# configs/cifar/cnn.yaml on 8 GPUs.
_base_ = [
    '../datasets/cifar100_bs128_224px.py',
    '../schedules/sgd_cos_300e_bs1024.py',
    '../default_runtime.py',
]
