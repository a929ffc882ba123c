from .batch_cls_data_preprocessor import BatchClsDataPreprocessor

__all__ = ['BatchClsDataPreprocessor']
