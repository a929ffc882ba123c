# CIFAR-100 at 224 px for the ViT / MLP students (configs/cifar/vit_mlp.yaml):
# cifar100_bs128_224px.py plus RandAugment rand-m9-mstd0.5-inc1, random
# erasing 0.25 (per-pixel noise) and mixup 0.8 / cutmix 1.0.
# Test: bilinear, crop_pct 0.9 (248 px) of DeiT-T and Swin-P.
_base_ = './cifar100_bs128_224px.py'

cifar_mean = [129.304, 124.070, 112.434]  # RGB, as the images are loaded
cifar_std = [68.170, 65.392, 70.418]
data_preprocessor = dict(
    batch_augments=dict(augments=[
        dict(type='Mixup', alpha=0.8),
        dict(type='CutMix', alpha=1.0),
    ]))

train_pipeline = [
    dict(
        type='RandomResizedCrop',
        scale=224,
        backend='pillow',
        interpolation='bicubic'),
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
    dict(
        type='RandAugment',
        policies='timm_increasing',
        num_policies=2,
        total_level=10,
        magnitude_level=9,
        magnitude_std=0.5,
        hparams=dict(
            pad_val=[round(x) for x in cifar_mean],
            interpolation='bicubic')),
    dict(
        type='RandomErasing',
        erase_prob=0.25,
        mode='rand',
        min_area_ratio=0.02,
        max_area_ratio=1 / 3,
        fill_color=cifar_mean,
        fill_std=cifar_std),
    dict(type='PackInputs'),
]
test_pipeline = [
    dict(
        type='ResizeEdge',
        scale=248,
        edge='short',
        backend='pillow',
        interpolation='bilinear'),
    dict(type='CenterCrop', crop_size=224),
    dict(type='PackInputs'),
]
train_dataloader = dict(dataset=dict(pipeline=train_pipeline))
val_dataloader = dict(dataset=dict(pipeline=test_pipeline))
test_dataloader = val_dataloader
