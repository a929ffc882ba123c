# ImageNet-1K for the ViT / MLP students: RandAugment m9 (mstd 0.5),
# random erasing 0.25, mixup 0.8 / cutmix 1.0 on the batch.
_base_ = 'mmpretrain::_base_/datasets/imagenet_bs64_swin_224.py'

data_root = 'data/imagenet'
data_preprocessor = dict(
    type='mmpretrain.ClsDataPreprocessor',
    batch_augments=dict(augments=[
        dict(type='Mixup', alpha=0.8),
        dict(type='CutMix', alpha=1.0),
    ]))

train_dataloader = dict(batch_size=128, dataset=dict(data_root=data_root))
val_dataloader = dict(dataset=dict(data_root=data_root))
test_dataloader = val_dataloader
