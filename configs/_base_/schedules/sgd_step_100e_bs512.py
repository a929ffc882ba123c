# The official ImageNet CNN schedule (configs/imagenet/cnn.yaml on timm
# 0.6.5): timm's `sgd` (momentum 0.9, Nesterov) at lr 0.1 for a global batch
# of 512, weight decay 1e-4 on weights only (timm's `filter_bias_and_bn`:
# never on biases or 1-D parameters), 100 epochs; the lr changes once per
# epoch: linear warm-up from timm's `warmup_lr` 1e-4 over epochs 0-2 (full
# lr at epoch 3), then x0.1 at epochs 30, 60 and 90.
optim_wrapper = dict(
    optimizer=dict(
        type='SGD', lr=0.1, momentum=0.9, nesterov=True, weight_decay=1e-4),
    paramwise_cfg=dict(
        norm_decay_mult=0., bias_decay_mult=0., flat_decay_mult=0.))
param_scheduler = [
    # `end=4`: mmengine's LinearLR reaches the full lr at step end - 1.
    dict(type='LinearLR', start_factor=1e-3, by_epoch=True, begin=0, end=4),
    dict(type='MultiStepLR', by_epoch=True, milestones=[30, 60, 90],
         gamma=0.1),
]
train_cfg = dict(by_epoch=True, max_epochs=100, val_interval=1)
val_cfg = dict()
test_cfg = dict()
auto_scale_lr = dict(base_batch_size=512)
