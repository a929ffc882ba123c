# ImageNet-1K for the CNN students, as the official recipe
# (configs/imagenet/cnn.yaml of github.com/Hao840/OFAKD on timm 0.6.5's
# loader): RandomResizedCrop 224 + horizontal flip (`color_jitter: 0`, no
# RandAugment, erasing or mixup). timm picks bilinear or bicubic at random
# for each crop (`train_interpolation: random`); mmpretrain's
# RandomResizedCrop takes one, bicubic.
# Test: ResNet18's timm transform, short edge to 224 / 0.875 = 256
# (bilinear, PIL) then a 224 centre crop.
_base_ = 'mmpretrain::_base_/datasets/imagenet_bs64.py'

data_root = 'data/imagenet'
# One stacked uint8 batch (default_collate) from pinned memory, copied to
# the GPU without blocking and normalised there (BatchClsDataPreprocessor).
# Without a GPU, torch's DataLoader warns that it cannot pin and loads
# unpinned.
data_preprocessor = dict(type='mmpretrain.BatchClsDataPreprocessor')

train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(
        type='RandomResizedCrop',
        scale=224,
        backend='pillow',
        interpolation='bicubic'),
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
    dict(type='PackInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
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
    drop_last=True,  # as timm's training loader
    dataset=dict(data_root=data_root, pipeline=train_pipeline))
val_dataloader = dict(
    collate_fn=dict(type='default_collate'),
    pin_memory=True,
    dataset=dict(data_root=data_root, pipeline=test_pipeline))
test_dataloader = val_dataloader
