"""The real-data path of the CIFAR-100 and ImageNet configs, on tiny local
copies of the two datasets in their official layouts; CIFAR-100 test images
go through the official code's test transform (resize to 224 / crop_pct,
bilinear, centre crop 224)."""
import os
import os.path as osp
import pickle

import numpy as np
import pytest
import torch
from mmengine.config import Config
from mmengine.registry import DefaultScope
from mmengine.runner import Runner
from mmpretrain.registry import MODELS
from PIL import Image

import ofakd_mm  # noqa: F401

CONFIG_DIR = osp.join(
    osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))), 'configs')


def write_tiny_cifar100(root: str, rng: np.random.Generator) -> dict:
    """`cifar-100-python/{train,test,meta}` pickles as in the official
    archive (uint8 rows of 3x32x32, `fine_labels`)."""
    folder = osp.join(root, 'cifar-100-python')
    os.makedirs(folder)
    labels = {'train': [0, 99, 42, 7], 'test': [3, 98]}
    for split, fine in labels.items():
        entry = {
            'filenames': [f'{split}_{i}.png' for i in range(len(fine))],
            'batch_label': f'{split} batch',
            'fine_labels': fine,
            'coarse_labels': [f // 5 for f in fine],
            'data': rng.integers(0, 256, (len(fine), 3 * 32 * 32),
                                 dtype=np.uint8),
        }
        with open(osp.join(folder, split), 'wb') as f:
            pickle.dump(entry, f)
    with open(osp.join(folder, 'meta'), 'wb') as f:
        pickle.dump({'fine_label_names': [f'c{i}' for i in range(100)],
                     'coarse_label_names': [f'g{i}' for i in range(20)]}, f)
    return labels


def write_tiny_imagenet(root: str, rng: np.random.Generator) -> dict:
    """`train/<wnid>/*.JPEG`, `val/*.JPEG` and `meta/{train,val}.txt` as
    mmpretrain's ImageNet dataset reads them."""
    labels = {'train': [0, 999, 1, 500], 'val': [2, 998]}
    os.makedirs(osp.join(root, 'meta'))
    for split, classes in labels.items():
        lines = []
        for i, label in enumerate(classes):
            if split == 'train':
                name = f'n{label:08d}/n{label:08d}_{i}.JPEG'
            else:
                name = f'ILSVRC2012_val_{i + 1:08d}.JPEG'
            path = osp.join(root, split, name)
            os.makedirs(osp.dirname(path), exist_ok=True)
            size = (int(rng.integers(60, 120)), int(rng.integers(60, 120)))
            pixels = rng.integers(0, 256, size + (3, ), dtype=np.uint8)
            Image.fromarray(pixels).save(path, quality=90)
            lines.append(f'{name} {label}')
        with open(osp.join(root, 'meta', f'{split}.txt'), 'w') as f:
            f.write('\n'.join(lines) + '\n')
    return labels


def fetch_batches(cfg: Config, data_root: str) -> dict:
    """Build the config's train and val dataloaders on `data_root` and pass
    one batch of each through the config's data preprocessor."""
    preprocessor = dict(cfg.data_preprocessor)
    batches = {}
    with DefaultScope.overwrite_default_scope(cfg.default_scope):
        preprocessor = MODELS.build(preprocessor)
        for name in ('train_dataloader', 'val_dataloader'):
            loader_cfg = cfg[name]
            loader_cfg.dataset.data_root = data_root
            loader_cfg.batch_size = 2
            loader_cfg.num_workers = 0
            loader_cfg.persistent_workers = False
            loader = Runner.build_dataloader(loader_cfg, seed=0)
            # Training batches also get the config's mixup / cutmix.
            data = preprocessor(next(iter(loader)),
                                training=name == 'train_dataloader')
            batches[name] = (loader.dataset, data)
    return batches


def official_cifar_test_input(pixels: np.ndarray, resize: int,
                              mean: list, std: list) -> torch.Tensor:
    """The official code's CIFAR-100 test input, computed with PIL alone:
    torchvision's Resize(resize, bilinear) + CenterCrop(224) + Normalize."""
    image = Image.fromarray(pixels).resize((resize, resize), Image.BILINEAR)
    top = int(round((resize - 224) / 2.0))
    crop = np.asarray(image, np.float32)[top:top + 224, top:top + 224]
    crop = (crop - np.array(mean, np.float32)) / np.array(std, np.float32)
    return torch.from_numpy(crop).permute(2, 0, 1)


@pytest.mark.parametrize('config,resize', [
    ('ofa/ofa_swin-t_resnet18_8xb128-300e_cifar100.py', 256),  # crop .875
    ('ofa/ofa_convnext-t_deit-t_8xb128-300e_cifar100.py', 248),  # crop 0.9
    ('students/resmlp-s12_8xb128-300e_cifar100.py', 256),  # crop .875
])
def test_cifar100_config_reads_local_files(config, resize, tmp_path,
                                           monkeypatch):
    labels = write_tiny_cifar100(str(tmp_path), np.random.default_rng(0))
    # The tiny files cannot match the checksums of the official archive.
    monkeypatch.setattr('mmpretrain.datasets.cifar.check_md5',
                        lambda path, md5: True)
    cfg = Config.fromfile(osp.join(CONFIG_DIR, config))
    batches = fetch_batches(cfg, str(tmp_path))
    for name, split in (('train_dataloader', 'train'),
                        ('val_dataloader', 'test')):
        dataset, data = batches[name]
        assert len(dataset) == len(labels[split])
        assert len(dataset.metainfo['classes']) == 100
        assert data['inputs'].shape == (2, 3, 224, 224)
        assert data['inputs'].dtype == torch.float32
        got = sorted(int(s.gt_label) for s in data['data_samples'])
        assert set(got) <= set(labels[split])

    with open(osp.join(str(tmp_path), 'cifar-100-python', 'test'),
              'rb') as f:
        rows = pickle.load(f)['data']
    pixels = rows.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)
    _, data = batches['val_dataloader']
    for i in range(2):
        expected = official_cifar_test_input(
            pixels[i], resize, cfg.data_preprocessor.mean,
            cfg.data_preprocessor.std)
        torch.testing.assert_close(
            data['inputs'][i], expected, atol=1e-4, rtol=1e-5)


@pytest.mark.parametrize('config', [
    'ofa/ofa_deit-t_resnet18_8xb64-100e_in1k.py',
    'ofa/ofa_resnet50_deit-t_8xb128-300e_in1k.py',
])
def test_imagenet_config_reads_local_files(config, tmp_path):
    labels = write_tiny_imagenet(str(tmp_path), np.random.default_rng(0))
    cfg = Config.fromfile(osp.join(CONFIG_DIR, config))
    batches = fetch_batches(cfg, str(tmp_path))
    for name, split in (('train_dataloader', 'train'),
                        ('val_dataloader', 'val')):
        dataset, data = batches[name]
        assert len(dataset) == len(labels[split])
        assert len(dataset.metainfo['classes']) == 1000
        assert data['inputs'].shape == (2, 3, 224, 224)
        got = sorted(int(s.gt_label) for s in data['data_samples'])
        assert set(got) <= set(labels[split])


def preprocessed(cfg: Config, data_root: str, collate: str,
                 preprocessor_type: str, training: bool) -> dict:
    """One batch of 4 of the config's train (or val) loader, collated with
    ``collate`` and preprocessed by ``preprocessor_type`` (the config's
    other preprocessor settings), with seeded batch augments."""
    name = 'train_dataloader' if training else 'val_dataloader'
    loader_cfg = cfg[name].copy()
    loader_cfg.update(batch_size=4, num_workers=0, persistent_workers=False,
                      collate_fn=dict(type=collate))
    loader_cfg.pop('pin_memory', None)
    loader_cfg.dataset.data_root = data_root
    preprocessor = dict(cfg.data_preprocessor, type=preprocessor_type)
    with DefaultScope.overwrite_default_scope(cfg.default_scope):
        loader = Runner.build_dataloader(loader_cfg, seed=0)
        # The same random crops, and mixup / cutmix draws, for both paths.
        np.random.seed(0)
        torch.manual_seed(0)
        data = next(iter(loader))
        return MODELS.build(preprocessor)(data, training=training)


@pytest.mark.parametrize('config', [
    'ofa/ofa_deit-t_resnet18_8xb64-100e_in1k.py',
    'ofa/ofa_resnet50_deit-t_8xb128-300e_in1k.py',  # mixup / cutmix
    'ofa/ofa_convnext-t_deit-t_8xb128-300e_cifar100.py',  # mixup / cutmix
])
@pytest.mark.parametrize('training', [True, False], ids=['train', 'val'])
def test_stacked_batch_is_bit_identical_to_the_per_image_path(
        config, training, tmp_path, monkeypatch):
    """default_collate + BatchClsDataPreprocessor (the configs' path) gives
    exactly what pseudo_collate + mmpretrain's ClsDataPreprocessor (image by
    image) gives on the same images: inputs, labels and mixed scores."""
    cfg = Config.fromfile(osp.join(CONFIG_DIR, config))
    assert cfg.data_preprocessor.type == 'mmpretrain.BatchClsDataPreprocessor'
    for loader in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        assert cfg[loader].collate_fn == dict(type='default_collate')
        assert cfg[loader].pin_memory is True
    if 'cifar' in config:
        write_tiny_cifar100(str(tmp_path), np.random.default_rng(0))
        monkeypatch.setattr('mmpretrain.datasets.cifar.check_md5',
                            lambda path, md5: True)
    else:
        write_tiny_imagenet(str(tmp_path), np.random.default_rng(0))
    new = preprocessed(cfg, str(tmp_path), 'default_collate',
                       'mmpretrain.BatchClsDataPreprocessor', training)
    old = preprocessed(cfg, str(tmp_path), 'pseudo_collate',
                       'mmpretrain.ClsDataPreprocessor', training)
    assert new['inputs'].shape == (4 if training else 2, 3, 224, 224)
    assert new['inputs'].dtype == old['inputs'].dtype == torch.float32
    assert torch.equal(new['inputs'], old['inputs'])
    for got, want in zip(new['data_samples'], old['data_samples']):
        assert torch.equal(got.gt_label, want.gt_label)
        assert ('gt_score' in got) == ('gt_score' in want)
        if 'gt_score' in want:
            assert got.gt_score.dtype == want.gt_score.dtype
            assert torch.equal(got.gt_score, want.gt_score)
