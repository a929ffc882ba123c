# OFA-KD mixed with DKD: OFAKDDistiller adds the distill_losses, recorders
# and loss_forward_mappings of the config to its own, so any MMRazor loss can
# run beside the OFA branches (here DKD on the final logits, averaged over
# the batch by BatchMeanDKDLoss).
_base_ = ['./ofa_resnet18-w16_vit-d64-l8_1xb32-40e_digits20shot.py']

model = dict(
    distiller=dict(
        distill_losses=dict(
            loss_dkd=dict(type='BatchMeanDKDLoss', tau=4.0, alpha=1.0,
                          beta=1.0, loss_weight=0.5)),
        loss_forward_mappings=dict(
            loss_dkd=dict(
                preds_S=dict(recorder='logits', from_student=True),
                preds_T=dict(recorder='logits', from_student=False),
                gt_labels=dict(recorder='gt_labels', from_student=True,
                               data_idx=1)))))
