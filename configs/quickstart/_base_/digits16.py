# The quickstart's data and runtime: the digits at 16 px (2x their 8x8
# originals; 32 px costs ~3x the CPU time for no accuracy gain here), the
# fixed 60/20/20 train/val/test split, a log line per epoch.
_base_ = [
    '../../_base_/datasets/digits_bs64.py',
    '../../_base_/digits_runtime.py',
]
train_pipeline = [
    dict(type='Resize', scale=(16, 16), interpolation='bilinear'),
    dict(type='RandomCrop', crop_size=16, padding=1),
    dict(type='PackInputs'),
]
test_pipeline = [
    dict(type='Resize', scale=(16, 16), interpolation='bilinear'),
    dict(type='PackInputs'),
]
train_dataloader = dict(dataset=dict(pipeline=train_pipeline))
val_dataloader = dict(dataset=dict(pipeline=test_pipeline))
test_dataloader = dict(dataset=dict(pipeline=test_pipeline))
default_hooks = dict(logger=dict(type='LoggerHook', interval=17))
