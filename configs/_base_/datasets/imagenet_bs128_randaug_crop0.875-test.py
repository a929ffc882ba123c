# imagenet_bs128_randaug.py with ResMLP-S12's timm test transform (bicubic,
# crop 0.875, short edge 256): the official code evaluates each student with
# its own timm `default_cfg`.
_base_ = './imagenet_bs128_randaug.py'

test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(
        type='ResizeEdge',
        scale=256,
        edge='short',
        backend='pillow',
        interpolation='bicubic'),
    dict(type='CenterCrop', crop_size=224),
    dict(type='PackInputs'),
]
val_dataloader = dict(dataset=dict(pipeline=test_pipeline))
test_dataloader = val_dataloader
