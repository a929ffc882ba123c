"""The official OFA-KD code (github.com/Hao840/OFAKD, timm 0.6.5) timed as
this package's benchmark times ours (:mod:`ofakd_mm.utils.benchmark`): a
student-only training iteration, the teacher forward and a distillation
iteration, images/s and the host-device syncs of one iteration.

An iteration is the body of the official ``train_one_epoch`` for one
process, data loading aside: timm's ``PrefetchLoader`` copies the uint8
batch to the GPU and normalises it there (random erasing too in the ViT
recipe), forward and losses under the AMP autocast, the per-loss
``.item()`` of its log, backward, gradient clipping and the optimizer step
(timm's ``NativeScaler`` in fp16; bf16 needs no scaler, so its non-scaled
branch), the EMA of the student (ViT recipe) and the
``torch.cuda.synchronize()`` that ends each iteration. Models, distiller,
loss and optimizer are built as the official ``train.py`` builds them from
the recipe's YAML (``configs/imagenet/{cnn,vit_mlp}.yaml``); mixup / cutmix
run in the official loader's collate on the CPU, so a batch arrives here
with soft targets already mixed. On the CPU (a trial run), the batch is
normalised in the step as the prefetcher would (which needs CUDA streams).

Run it with the official code and timm 0.6.5 first on ``PYTHONPATH`` (as
``tools/analysis/gpu_check.sh`` does after
``tools/analysis/prepare_gpu_check.sh``)::

    PYTHONPATH=/tmp/official_site:.official/OFAKD:. python \\
        tools/analysis/official_benchmark.py --amp bf16 --json official.json
"""
import argparse
import contextlib
import itertools
import json
import os.path as osp
import platform
from types import SimpleNamespace
from typing import Any, Callable, Dict, List, Optional, Tuple

import torch
import yaml

from ofakd_mm.utils.benchmark import (AMP_DTYPES, MemoryMeter, count_syncs,
                                      measure, record_run)

#: The README's reference pairs: timm names, the official recipe, eps.
PAIRS = {
    'R18<-DeiT-T': dict(student='resnet18', teacher='deit_tiny_patch16_224',
                        recipe='cnn', eps=1.5),
    'DeiT-T<-R50': dict(student='deit_tiny_patch16_224', teacher='resnet50',
                        recipe='vit_mlp', eps=1.0),
}


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--official', default='.official/OFAKD',
                        help='the official code (for its configs/)')
    parser.add_argument('--pairs', nargs='+', default=list(PAIRS),
                        choices=list(PAIRS))
    parser.add_argument('--batch-size', type=int, default=128)
    parser.add_argument('--input-size', type=int, default=224)
    parser.add_argument('--amp', nargs='+', default=['bf16', 'fp32'],
                        choices=['bf16', 'fp16', 'fp32'])
    parser.add_argument('--iters', type=int, default=10)
    parser.add_argument('--warmup', type=int, default=3)
    parser.add_argument('--device', default='cuda', choices=['cuda', 'cpu'])
    parser.add_argument('--json', help='write all results to this file')
    return parser.parse_args(argv)


def build(pair: Dict, recipe: Dict, device: str, distiller_name: str):
    """The official distiller (``ofa`` or ``vanilla``) of a pair, its loss,
    optimizer and student EMA as the official ``train.py`` builds them."""
    from custom_forward import register_new_forward
    from distillers import get_distiller
    from timm.loss import LabelSmoothingCrossEntropy, SoftTargetCrossEntropy
    from timm.models import create_model
    from timm.optim import create_optimizer_v2
    from timm.utils import ModelEmaV2

    student = create_model(pair['student'], num_classes=1000,
                           drop_path_rate=recipe.get('drop_path'))
    register_new_forward(student)
    # The official projector sets a ViT student's class token aside by its
    # `num_tokens`, which timm 0.6.5 renamed `num_prefix_tokens`: without
    # it, 197 tokens reach the 14x14 patch merger and the build fails.
    if hasattr(student, 'num_prefix_tokens') and not hasattr(
            student, 'num_tokens'):
        student.num_tokens = student.num_prefix_tokens
    teacher = create_model(pair['teacher'], num_classes=1000)
    register_new_forward(teacher)
    teacher.requires_grad_(False)
    teacher.eval()
    mixup = recipe.get('mixup', 0) > 0 or recipe.get('cutmix', 0) > 0
    criterion = SoftTargetCrossEntropy() if mixup else \
        LabelSmoothingCrossEntropy(smoothing=recipe.get('smoothing', 0.1))
    args = SimpleNamespace(
        ofa_stage=[1, 2, 3, 4], ofa_eps=[pair['eps']], ofa_temperature=1.,
        ofa_loss_weight=1., gt_loss_weight=1., kd_loss_weight=1.,
        num_classes=1000)
    distiller = get_distiller(distiller_name)(
        student, teacher=teacher, criterion=criterion, args=args,
        num_data=1281167).to(device)
    optimizer = create_optimizer_v2(
        distiller, opt=recipe['opt'], lr=float(recipe['lr']),
        weight_decay=float(recipe['weight_decay']), momentum=0.9)
    ema = ModelEmaV2(student, decay=recipe['model_ema_decay'][0]) \
        if recipe.get('model_ema') else None
    return distiller, optimizer, ema, mixup


def make_batch(batch_size: int, size: int, mixup: bool
               ) -> Tuple[torch.Tensor, torch.Tensor]:
    """A batch as the official loader's collate gives it: uint8 images and
    int64 labels, or soft targets (mixup / cutmix with label smoothing
    0.1, mixed on the CPU)."""
    g = torch.Generator().manual_seed(0)
    images = torch.randint(0, 256, (batch_size, 3, size, size),
                           dtype=torch.uint8, generator=g)
    labels = torch.randint(0, 1000, (batch_size, ), generator=g)
    if not mixup:
        return images, labels
    off, on = 0.1 / 1000, 1 - 0.1 + 0.1 / 1000
    one_hot = torch.full((batch_size, 1000), off).scatter_(
        1, labels[:, None], on)
    return images, 0.7 * one_hot + 0.3 * one_hot.flip(0)


def batches(images: torch.Tensor, targets: torch.Tensor, recipe: Dict,
            device: str) -> Callable[[], Tuple[torch.Tensor, torch.Tensor]]:
    """Device batches as ``train_one_epoch`` receives them: from timm's
    ``PrefetchLoader`` on CUDA (which prefetches the next one), normalised
    in the calling step on the CPU."""
    from timm.data.constants import IMAGENET_DEFAULT_MEAN as MEAN
    from timm.data.constants import IMAGENET_DEFAULT_STD as STD
    from timm.data.loader import PrefetchLoader
    if device == 'cuda':
        loader = PrefetchLoader(
            itertools.repeat((images, targets)), mean=MEAN, std=STD,
            re_prob=float(recipe.get('reprob', 0.)), re_mode='pixel')
        return iter(loader).__next__
    mean = torch.tensor([x * 255 for x in MEAN]).view(1, 3, 1, 1)
    std = torch.tensor([x * 255 for x in STD]).view(1, 3, 1, 1)
    return lambda: (images.float().sub_(mean).div_(std), targets)


def iteration(distiller, optimizer, ema, recipe: Dict, amp: Optional[str],
              device: str, next_batch: Callable) -> Callable[[Any], None]:
    """One iteration of the official ``train_one_epoch`` (one process)."""
    from timm.models import model_parameters
    from timm.utils import NativeScaler, dispatch_clip_grad
    scaler = NativeScaler() if amp == 'fp16' else None
    clip = recipe.get('clip_grad')
    autocast = (lambda: torch.autocast(
        device, dtype=getattr(torch, AMP_DTYPES[amp]))) if amp else \
        contextlib.nullcontext
    sync = torch.cuda.synchronize if device == 'cuda' else (lambda: None)

    def step(_: Any) -> None:
        inputs, targets = next_batch()
        with autocast():
            _, losses = distiller(inputs, targets, epoch=0)
            loss = sum(losses.values())
        loss.item()  # the official log, every iteration of one process
        for value in losses.values():
            value.item()
        optimizer.zero_grad()
        params = model_parameters(distiller, exclude_head=False)
        if scaler is not None:
            scaler(loss, optimizer, clip_grad=clip, clip_mode='norm',
                   parameters=params)
        else:
            loss.backward()
            if clip is not None:
                dispatch_clip_grad(params, value=clip, mode='norm')
            optimizer.step()
        if ema is not None:
            ema.update(distiller.student)
        sync()

    return step


def benchmark_pair(name: str, official: str, batch_size: int, size: int,
                   amp: Optional[str], iters: int, warmup: int,
                   device: str) -> Dict[str, Any]:
    """Student-only iteration, teacher forward and distillation iteration
    of the official code for one pair and precision."""
    pair = PAIRS[name]
    with open(osp.join(official, 'configs', 'imagenet',
                       f'{pair["recipe"]}.yaml')) as f:
        recipe = yaml.safe_load(f)
    meter = MemoryMeter(device)
    times, peaks, results = {}, {}, {}
    for part, distiller_name in (('student', 'vanilla'), ('distill', 'ofa')):
        distiller, optimizer, ema, mixup = build(pair, recipe, device,
                                                 distiller_name)
        distiller.train()
        images, targets = make_batch(batch_size, size, mixup)
        step = iteration(distiller, optimizer, ema, recipe, amp, device,
                         batches(images, targets, recipe, device))
        times[part], peaks[part] = measure(step, lambda: None, iters,
                                           warmup, meter)
        if part == 'distill':
            results.update(count_syncs(step, None, device))
            teacher = distiller.teacher
            inputs = batches(images, targets, recipe, device)()[0]

            def forward(_: Any) -> None:
                with torch.no_grad(), (torch.autocast(
                        device, dtype=getattr(torch, AMP_DTYPES[amp]))
                        if amp else contextlib.nullcontext()):
                    teacher(inputs)

            times['teacher'], peaks['teacher'] = measure(
                forward, lambda: None, iters, warmup, meter)
        del distiller, optimizer, ema, step
    results.update(
        pair=name, implementation='official', batch_size=batch_size,
        input_size=[size, size], amp=amp, device=device,
        device_name=torch.cuda.get_device_name()
        if device == 'cuda' else platform.processor(),
        torch=torch.__version__, timm=_timm_version(), iters=iters,
        warmup=warmup, recipe=pair['recipe'], ema=bool(
            recipe.get('model_ema')),
        student_s=round(times['student'], 5),
        teacher_s=round(times['teacher'], 5),
        distill_s=round(times['distill'], 5),
        student_img_s=round(batch_size / times['student'], 1),
        distill_img_s=round(batch_size / times['distill'], 1),
        overhead_ratio=round(
            times['distill'] / (times['student'] + times['teacher']), 3),
        peak_mem_mb=peaks, memory_method=meter.method)
    return results


def _timm_version() -> str:
    import timm
    return timm.__version__


def main(argv: Optional[List[str]] = None) -> List[Dict[str, Any]]:
    args = parse_args(argv)
    if _timm_version() != '0.6.5':
        raise SystemExit(
            f'timm {_timm_version()} is first on the path; the official '
            'code pins timm 0.6.5: put it first on PYTHONPATH (see '
            'tools/analysis/prepare_gpu_check.sh).')
    runs = []
    for name, amp in itertools.product(args.pairs, args.amp):
        amp = None if amp == 'fp32' else amp
        try:
            result = benchmark_pair(name, args.official, args.batch_size,
                                    args.input_size, amp, args.iters,
                                    args.warmup, args.device)
        except (RuntimeError, AssertionError) as err:  # OOM, a failed build
            result = dict(pair=name, implementation='official', amp=amp,
                          error=f'{type(err).__name__}: {err}')
        print(json.dumps({k: v for k, v in result.items()
                          if k != 'peak_mem_mb'}))
        record_run(runs, result, args.json, args.device)
    return runs


if __name__ == '__main__':
    main()
