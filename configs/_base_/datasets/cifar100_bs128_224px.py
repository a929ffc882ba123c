# CIFAR-100 upsampled to 224 px for teacher and student, as the official CNN
# recipe (configs/cifar/cnn.yaml on the official train.py, which applies
# timm's ImageNet transforms to CIFAR-100 with its mean / std):
# RandomResizedCrop 224 + horizontal flip (`color_jitter: 0`). timm picks
# bilinear or bicubic at random for each crop; here bicubic.
# Test: resize to 224 / crop_pct then a 224 centre crop, bilinear (the
# official train.py sets bilinear for CIFAR-100); crop_pct is the student's
# timm default: 0.875 (256 px) for ResNet18 and MobileNetV2.
# The files (`cifar-100-python/`) must be in `data_root`: nothing downloads.
_base_ = 'mmpretrain::_base_/datasets/cifar100_bs16.py'

data_root = 'data/cifar100'
# One stacked uint8 batch (default_collate) from pinned memory, copied to
# the GPU without blocking and normalised there (BatchClsDataPreprocessor).
# Without a GPU, torch's DataLoader warns that it cannot pin and loads
# unpinned.
data_preprocessor = dict(type='mmpretrain.BatchClsDataPreprocessor')

train_pipeline = [
    dict(
        type='RandomResizedCrop',
        scale=224,
        backend='pillow',
        interpolation='bicubic'),
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
    dict(type='PackInputs'),
]
test_pipeline = [
    dict(
        type='ResizeEdge',
        scale=256,
        edge='short',
        backend='pillow',
        interpolation='bilinear'),
    dict(type='CenterCrop', crop_size=224),
    dict(type='PackInputs'),
]

train_dataloader = dict(
    collate_fn=dict(type='default_collate'),
    pin_memory=True,
    batch_size=128,
    num_workers=8,
    drop_last=True,  # as timm's training loader
    dataset=dict(
        data_root=data_root, download=False, pipeline=train_pipeline))
val_dataloader = dict(
    collate_fn=dict(type='default_collate'),
    pin_memory=True,
    batch_size=128,
    num_workers=8,
    dataset=dict(data_root=data_root, download=False, pipeline=test_pipeline))
test_dataloader = val_dataloader
