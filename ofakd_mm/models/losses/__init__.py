from .ofakd_loss import OFAKDLoss

__all__ = ['OFAKDLoss']
