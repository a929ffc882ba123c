# The paper's CIFAR-100 recipe for ViT / MLP students (DeiT-T, Swin-P,
# ResMLP-S12): as the ImageNet one without EMA.
_base_ = [
    '../models/cifar100_nets.py',
    '../datasets/cifar100_bs128_224px_randaug.py',
    '../schedules/adamw_cos_300e_bs1024.py',
    '../default_runtime.py',
]
