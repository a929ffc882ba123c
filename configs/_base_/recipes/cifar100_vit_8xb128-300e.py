# The official CIFAR-100 recipe of the ViT / MLP students (DeiT-T, Swin-P,
# ResMLP-S12): configs/cifar/vit_mlp.yaml on 8 GPUs (no EMA). Evaluation with
# the crop of DeiT-T and Swin-P.
_base_ = [
    '../datasets/cifar100_bs128_224px_randaug.py',
    '../schedules/adamw_cos_300e_bs1024.py',
    '../default_runtime.py',
]
