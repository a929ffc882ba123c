# Swin-T ImageNet-1K teacher. Its checkpoint goes to
#   checkpoints/swin-t_in1k.pth
# Get it by converting timm's `swin_tiny_patch4_window7_224` weights:
#   python tools/model_converters/timm_to_mmpretrain.py --model swin-t \
#       swin_tiny_patch4_window7_224.pth checkpoints/swin-t_in1k.pth
# or save there the weights of mmpretrain's model-zoo entry
#   swin-tiny_16xb64_in1k
# (its `Weights` URL in mmpretrain's configs/*/metafile.yml).
# Evaluate it:
#   python tools/test.py configs/teachers/swin-t_in1k.py \
#       checkpoints/swin-t_in1k.pth
# The training settings only complete the config; the teacher is not
# trained here.
_base_ = '../_base_/recipes/in1k_vit_8xb128-300e.py'

model = _base_.swin_t
