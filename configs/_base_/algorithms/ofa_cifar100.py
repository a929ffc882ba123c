# OFA-KD on CIFAR-100: the authors' runs weight each exit branch by 0.1.
_base_ = './ofa.py'

model = dict(distiller=dict(ofa_loss_weight=0.1))
