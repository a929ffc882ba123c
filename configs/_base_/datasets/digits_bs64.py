# scikit-learn's bundled handwritten digits (1,797 real 8x8 images, 10
# classes; nothing is downloaded), upsampled to 16 px (32 px costs ~3x the
# CPU time and adds no information to the 8x8 originals); the fixed
# 60/20/20 per-class train/val/test split (1,078 / 359 / 360 images).
dataset_type = 'DigitsDataset'
data_preprocessor = dict(
    type='mmpretrain.BatchClsDataPreprocessor',
    num_classes=10,
    # mean / std of the digits' pixels (0..255), grey on 3 channels
    mean=[78.0, 78.0, 78.0],
    std=[96.0, 96.0, 96.0],
    to_rgb=False)

train_pipeline = [
    dict(type='Resize', scale=(16, 16), interpolation='bilinear'),
    dict(type='RandomCrop', crop_size=16, padding=1),
    dict(type='PackInputs'),
]
test_pipeline = [
    dict(type='Resize', scale=(16, 16), interpolation='bilinear'),
    dict(type='PackInputs'),
]

# One stacked batch (default_collate), normalised in one go by
# BatchClsDataPreprocessor; not pinned: these runs are for the CPU.
train_dataloader = dict(
    batch_size=64,
    collate_fn=dict(type='default_collate'),
    num_workers=0,
    dataset=dict(type=dataset_type, split='train', pipeline=train_pipeline),
    sampler=dict(type='DefaultSampler', shuffle=True),
)
val_dataloader = dict(
    batch_size=128,
    collate_fn=dict(type='default_collate'),
    num_workers=0,
    dataset=dict(type=dataset_type, split='val', pipeline=test_pipeline),
    sampler=dict(type='DefaultSampler', shuffle=False),
)
val_evaluator = dict(type='Accuracy', topk=(1, ))

test_dataloader = dict(
    batch_size=128,
    collate_fn=dict(type='default_collate'),
    num_workers=0,
    dataset=dict(type=dataset_type, split='test', pipeline=test_pipeline),
    sampler=dict(type='DefaultSampler', shuffle=False),
)
test_evaluator = val_evaluator
