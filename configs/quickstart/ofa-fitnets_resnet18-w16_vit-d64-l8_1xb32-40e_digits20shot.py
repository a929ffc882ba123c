# OFA-KD mixed with FitNets' feature loss (Romero et al., ICLR 2015, as
# MMRazor implements it: a learned regressor, then L2Loss between the
# normalised student and teacher features). The CNN teacher's maps and the
# ViT student's tokens have no common layout, so the hint is taken where
# both are vectors: the input of each classifier (the student's class
# token, 64-d; the teacher's pooled feature, 128-d), the regressor a linear
# layer (MMRazor's TorchNNConnector). OFAKDDistiller adds these recorders,
# connector and loss to its own. The loss weight is not tuned.
_base_ = ['./ofa_resnet18-w16_vit-d64-l8_1xb32-40e_digits20shot.py']

model = dict(
    distiller=dict(
        student_recorders=dict(
            hint_s=dict(type='ModuleInputs', source='head.layers.head')),
        teacher_recorders=dict(
            hint_t=dict(type='ModuleInputs', source='head.fc')),
        connectors=dict(
            hint_regressor=dict(
                type='TorchNNConnector',
                module_name='Linear',
                module_args=dict(in_features=64, out_features=128))),
        distill_losses=dict(loss_fitnets=dict(type='L2Loss', loss_weight=1.0)),
        loss_forward_mappings=dict(
            loss_fitnets=dict(
                s_feature=dict(
                    from_student=True,
                    recorder='hint_s',
                    data_idx=0,
                    connector='hint_regressor'),
                t_feature=dict(
                    from_student=False, recorder='hint_t', data_idx=0)))))
