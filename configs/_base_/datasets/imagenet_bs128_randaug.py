# ImageNet-1K for the ViT / MLP students, as the official recipe
# (configs/imagenet/vit_mlp.yaml): RandomResizedCrop 224 + flip, RandAugment
# rand-m9-mstd0.5-inc1 (timm skips colour jitter when RandAugment is on),
# random erasing 0.25 (per-pixel noise), mixup 0.8 / cutmix 1.0 switching
# per batch; label smoothing 0.1 is in the heads. timm's crop and
# RandAugment interpolation is random bilinear / bicubic; here bicubic.
# Test: the timm transform of DeiT-T, Swin-N and CycleMLP-B3, short edge to
# 224 / 0.9 = 248 (bicubic, PIL) then a 224 centre crop.
_base_ = 'mmpretrain::_base_/datasets/imagenet_bs64_swin_224.py'

data_root = 'data/imagenet'
# As imagenet_bs64.py: one stacked uint8 batch from pinned memory, copied
# without blocking, normalised and mixed on the GPU.
data_preprocessor = dict(
    type='mmpretrain.BatchClsDataPreprocessor',
    batch_augments=dict(augments=[
        dict(type='Mixup', alpha=0.8),
        dict(type='CutMix', alpha=1.0),
    ]))

test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(
        type='ResizeEdge',
        scale=248,
        edge='short',
        backend='pillow',
        interpolation='bicubic'),
    dict(type='CenterCrop', crop_size=224),
    dict(type='PackInputs'),
]

train_dataloader = dict(
    collate_fn=dict(type='default_collate'),
    pin_memory=True,
    batch_size=128,
    drop_last=True,  # as timm's training loader
    dataset=dict(data_root=data_root))
val_dataloader = dict(
    collate_fn=dict(type='default_collate'),
    pin_memory=True,
    dataset=dict(data_root=data_root, pipeline=test_pipeline))
test_dataloader = val_dataloader
