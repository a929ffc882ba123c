"""Config fixes that every entry point (tools/train.py, tools/test.py, the
quickstart) applies before building a Runner."""
from mmengine.config import Config

_LOADERS = ('train_dataloader', 'val_dataloader', 'test_dataloader')


def drop_persistent_workers_without_workers(cfg: Config) -> Config:
    """Turn ``persistent_workers`` off in the data loaders that have
    ``num_workers=0``.

    mmpretrain's dataset bases set ``persistent_workers=True``, which torch's
    ``DataLoader`` rejects without worker processes; ``num_workers=0`` is
    what the built-in digits data and debugging runs use.

    Args:
        cfg (Config): The config, changed in place.

    Returns:
        Config: ``cfg``.
    """
    for field in _LOADERS:
        loader = cfg.get(field, None)
        if loader is not None and loader.get('num_workers', 0) == 0:
            loader['persistent_workers'] = False
    return cfg
