# ImageNet-1K for the CNN students: RandomResizedCrop 224 + flip.
_base_ = 'mmpretrain::_base_/datasets/imagenet_bs64.py'

data_root = 'data/imagenet'
data_preprocessor = dict(type='mmpretrain.ClsDataPreprocessor')

train_dataloader = dict(dataset=dict(data_root=data_root))
val_dataloader = dict(dataset=dict(data_root=data_root))
test_dataloader = val_dataloader
