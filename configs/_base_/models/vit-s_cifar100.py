# ViT-S for CIFAR-100 upsampled to 224 px (100-class head), the authors'
# fine-tuned teacher (see configs/teachers/vit-s_cifar100.py). It was
# fine-tuned on inputs normalised with the CIFAR-100 mean / std (the official
# code's CIFAR setting), not the 0.5 / 0.5 of its ImageNet weights.
_base_ = './vit-s_in1k.py'

model = dict(
    head=dict(num_classes=100),
    data_preprocessor=dict(
        _delete_=True,
        mean=[129.304, 124.070, 112.434],
        std=[68.170, 65.392, 70.418],
        to_rgb=False))
