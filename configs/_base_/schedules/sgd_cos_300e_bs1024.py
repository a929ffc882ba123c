# The official CIFAR-100 CNN schedule (configs/cifar/cnn.yaml on timm 0.6.5):
# timm's `sgd` (momentum 0.9, Nesterov) at lr 0.05 for a global batch of
# 1024, weight decay 2e-3 on weights only (never on biases or 1-D
# parameters), 300 epochs; the lr changes once per epoch: linear warm-up
# from timm's `warmup_lr` 1e-4 over epochs 0-2, and a cosine from 0.05 to
# 1e-3 over epochs 0-300 that timm starts at epoch 0 (not after the
# warm-up); here the two overlap during the warm-up, within 0.02% of timm's
# lr there and exact afterwards.
optim_wrapper = dict(
    optimizer=dict(
        type='SGD', lr=0.05, momentum=0.9, nesterov=True, weight_decay=2e-3),
    paramwise_cfg=dict(
        norm_decay_mult=0., bias_decay_mult=0., flat_decay_mult=0.))
param_scheduler = [
    # `end=4`: mmengine's LinearLR reaches the full lr at step end - 1.
    dict(type='LinearLR', start_factor=2e-3, by_epoch=True, begin=0, end=4),
    dict(type='CosineAnnealingLR', eta_min=1e-3, by_epoch=True, begin=0,
         end=300),
]
train_cfg = dict(by_epoch=True, max_epochs=300, val_interval=1)
val_cfg = dict()
test_cfg = dict()
auto_scale_lr = dict(base_batch_size=1024)
