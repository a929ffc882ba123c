# ImageNet CNN recipe: SGD lr 0.1 (global batch 512), wd 1e-4, 3 warm-up
# epochs, then x0.1 every 30 epochs, 100 epochs.
_base_ = 'mmpretrain::_base_/schedules/imagenet_bs256.py'

param_scheduler = [
    dict(type='LinearLR', start_factor=1e-3, by_epoch=True, begin=0, end=3,
         convert_to_iter_based=True),
    dict(type='MultiStepLR', by_epoch=True, milestones=[30, 60, 90],
         gamma=0.1),
]
auto_scale_lr = dict(base_batch_size=512)
