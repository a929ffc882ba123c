# DKD on CIFAR-100 with the DKD paper's CIFAR-100 setting (beta 8,
# temperature 4); see dkd_in1k.py for why not the official train.py
# defaults.
_base_ = './dkd_in1k.py'

model = dict(
    distiller=dict(distill_losses=dict(loss_dkd=dict(tau=4.0, beta=8.0))))
