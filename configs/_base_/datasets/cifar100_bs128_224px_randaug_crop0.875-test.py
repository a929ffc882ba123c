# cifar100_bs128_224px_randaug.py with ResMLP-S12's crop_pct 0.875 (256 px,
# bilinear as every CIFAR-100 test transform of the official code).
_base_ = './cifar100_bs128_224px_randaug.py'

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
val_dataloader = dict(dataset=dict(pipeline=test_pipeline))
test_dataloader = val_dataloader
