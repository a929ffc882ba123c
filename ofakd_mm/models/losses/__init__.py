from .dkd_loss import BatchMeanDKDLoss
from .ofakd_loss import OFAKDLoss

__all__ = ['BatchMeanDKDLoss', 'OFAKDLoss']
