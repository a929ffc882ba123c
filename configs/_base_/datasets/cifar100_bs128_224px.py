# CIFAR-100 upsampled to 224 px for teacher and student (CIFAR mean / std).
# Training crops follow the ImageNet-style transform that the paper's
# timm-based code applies to any dataset: RandomResizedCrop to 224 + flip.
# The files (`cifar-100-python/`) must be in `data_root`: nothing downloads.
_base_ = 'mmpretrain::_base_/datasets/cifar100_bs16.py'

data_root = 'data/cifar100'
data_preprocessor = dict(type='mmpretrain.ClsDataPreprocessor')

train_pipeline = [
    dict(
        type='RandomResizedCrop', scale=224, backend='pillow',
        interpolation='bicubic'),
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
    dict(type='PackInputs'),
]
test_pipeline = [
    dict(type='Resize', scale=(224, 224), backend='pillow',
         interpolation='bicubic'),
    dict(type='PackInputs'),
]

train_dataloader = dict(
    batch_size=128,
    num_workers=8,
    dataset=dict(data_root=data_root, download=False,
                 pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=128,
    num_workers=8,
    dataset=dict(data_root=data_root, download=False,
                 pipeline=test_pipeline))
test_dataloader = val_dataloader
