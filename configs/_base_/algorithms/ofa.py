# OFA-KD (Hao et al., NeurIPS 2023): exit branches on student stages 1-4,
# w_gt = w_kd = w_ofa = 1, temperature 1, eps 1: the defaults of the official
# train.py (`--ofa-stage 1 2 3 4 --ofa-eps 1 --ofa-loss-weight 1
# --ofa-temperature 1 --gt-loss-weight 1 --kd-loss-weight 1`). Leaf configs
# set student, teacher, teacher_ckpt and eps.
model = dict(
    _scope_='mmrazor',
    type='OFAKDDistill',
    input_size=224,
    gt_loss_weight=1.0,
    distiller=dict(
        type='OFAKDDistiller',
        stages=(1, 2, 3, 4),
        eps=1.0,
        temperature=1.0,
        kd_loss_weight=1.0,
        ofa_loss_weight=1.0))
