# OFA-KD written as a plain MMRazor ConfigurableDistiller config: the way to
# add OFA exit branches to an existing MMRazor KD config. Unlike OFAKDDistill,
# nothing is measured: each projector is declared with its stage's shape
# (print them with tools/analysis/print_projectors.py on an OFAKDDistill
# config). Same method and defaults as ofa_resnet18-w16_vit-d64_..._digits.
_base_ = [
    '../_base_/models/digits_nets.py',
    '../_base_/datasets/digits_bs64.py',
    '../_base_/schedules/digits_adamw_30e.py',
    '../_base_/digits_runtime.py',
]
teacher_ckpt = 'work_dirs/resnet18-w16_1xb64-30e_digits/epoch_30.pth'

# The ViT student: width 64 (= d_S), 8x8 patch grid + a class token.
token_stage = dict(type='OFAKDTokenProjector', embed_dim=64, grid_size=8,
                   student_dim=64, num_classes=10, num_extra_tokens=1)
ofa_loss = dict(type='OFAKDLoss', eps=1.0, temperature=1.0, loss_weight=1.0)
labels = dict(recorder='gt_labels', from_student=True, data_idx=1)
teacher_logits = dict(recorder='logits', from_student=False)


def stage_mapping(k):
    return dict(
        preds_S=dict(recorder=f'stage{k}', from_student=True,
                     connector=f'stage{k}'),
        preds_T=teacher_logits,
        gt_labels=labels)


model = dict(
    _scope_='mmrazor',
    type='FrozenTeacherDistill',
    architecture=_base_.vit_d64,
    teacher=_base_.resnet18_w16,
    teacher_ckpt=teacher_ckpt,
    distiller=dict(
        type='ConfigurableDistiller',
        student_recorders=dict(
            stage1=dict(type='ModuleOutputs', source='backbone.layers.1'),
            stage2=dict(type='ModuleOutputs', source='backbone.layers.3'),
            stage3=dict(type='ModuleOutputs', source='backbone.layers.9'),
            stage4=dict(type='ModuleOutputs', source='backbone.layers.11'),
            logits=dict(type='ModuleOutputs', source='head'),
            gt_labels=dict(type='ModuleInputs', source='head.loss_module')),
        teacher_recorders=dict(
            logits=dict(type='ModuleOutputs', source='head')),
        connectors=dict(
            stage1=dict(token_stage, stage=1),
            stage2=dict(token_stage, stage=2),
            stage3=dict(token_stage, stage=3),
            stage4=dict(token_stage, stage=4)),
        distill_losses=dict(
            loss_ofa_stage1=ofa_loss,
            loss_ofa_stage2=ofa_loss,
            loss_ofa_stage3=ofa_loss,
            loss_ofa_stage4=ofa_loss,
            loss_ofa_final=ofa_loss),
        loss_forward_mappings=dict(
            loss_ofa_stage1=stage_mapping(1),
            loss_ofa_stage2=stage_mapping(2),
            loss_ofa_stage3=stage_mapping(3),
            loss_ofa_stage4=stage_mapping(4),
            loss_ofa_final=dict(
                preds_S=dict(recorder='logits', from_student=True),
                preds_T=teacher_logits,
                gt_labels=labels))))
