from .ofakd_distiller import OFAKDDistiller

__all__ = ['OFAKDDistiller']
