# OFA-KD on CIFAR-100: the authors' CIFAR-100 runs weight each exit branch by
# 0.1 (`--ofa-loss-weight 0.1`, github.com/Hao840/OFAKD issues #14, #32).
_base_ = './ofa.py'

model = dict(distiller=dict(ofa_loss_weight=0.1))
