# The digits with 20 training images per class (200 of the 1,078 of the
# train split; the same ones for every run), batch 32: the students' data.
# Validation and test use the whole val / test splits.
_base_ = './digits_bs64.py'

train_dataloader = dict(batch_size=32, dataset=dict(per_class=20))
