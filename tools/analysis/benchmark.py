"""Measure what distillation costs over training the student alone.

Builds the algorithm of a config (``teacher_ckpt`` set to None: random
weights time the same) and measures, after warm-up, the median time and the
peak memory of:

(a) ``student``: one student-only training step (data preprocessing, student
    forward, loss, backward and optimizer step on the student's parameters
    alone, with the config's optim wrapper);
(b) ``teacher``: one teacher forward (eval, ``no_grad``, ``mode='tensor'``
    as the frozen teacher runs inside distillation);
(c) ``distill``: one full distillation training step,
    ``algorithm.train_step(data, optim_wrapper)`` with the config's optim
    wrapper over the whole algorithm (student and projectors).

and the overhead ratio ``distill / (student + teacher)`` (1.0: distillation
costs exactly a student step plus a teacher forward). Also measured:

(d) ``branches``: the distiller's own work alone (the OFA-KD exit branches'
    forward, losses, backward and optimizer step on recorded, detached stage
    features): the physical floor of a distillation step is
    ``student + teacher + branches``, reported as ``floor_ratio``;
(e) on CUDA, the host-device syncs of one distillation step, from
    ``torch.profiler``: ``cuda_syncs`` (``cudaStreamSynchronize``/
    ``cudaDeviceSynchronize``/``cudaEventSynchronize`` calls: a tensor read
    into Python, a blocking copy) and ``scalar_reads``
    (``aten::_local_scalar_dense``, which also counts harmless reads of CPU
    tensors such as the optimizer's step counters).

``--amp bf16|fp16`` (CUDA) trains with mmengine's ``AmpOptimWrapper`` and
runs the teacher forward under the same autocast; ``--channels-last`` sets
the algorithm's ``channels_last``.

Memory is the peak *extra* memory of a measurement (warm-up included) over
the memory in use just before it, so the model's own weights are not counted
but gradients, optimizer states, activations and temporaries are:

* CPU: the process's peak resident set size (``VmHWM`` of
  ``/proc/self/status``) minus its resident size before the measurement.
  The peak is reset before each measurement by writing 5 to
  ``/proc/self/clear_refs`` (Linux >= 4.0) after returning freed heap memory
  to the OS (``malloc_trim``), so each figure is that measurement's own.
  Where ``clear_refs`` cannot be written, ``resource.getrusage`` maxrss is
  used: it never resets, so later figures are then only lower bounds (the
  JSON says which method was used).
* CUDA: ``torch.cuda.max_memory_allocated`` (after
  ``reset_peak_memory_stats``) minus ``memory_allocated`` before; timings
  are synchronized.

Example::

    python tools/analysis/benchmark.py \\
        configs/ofa/ofa_deit-t_resnet18_8xb64-100e_in1k.py \\
        --batch-size 16 --iters 10 --warmup 3 --json bench.json
    python tools/analysis/benchmark.py CONFIG --device cuda \\
        --batch-size 128 --amp bf16 --channels-last --json bench.json
"""
import argparse
import contextlib
import copy
import ctypes
import gc
import json
import os.path as osp
import platform
import resource
import statistics
import time
from typing import Any, Callable, Dict, List, Optional, Tuple

import torch
from mmengine.config import Config, DictAction
from mmengine.logging import MMLogger
from mmengine.optim import build_optim_wrapper
from mmengine.registry import MODELS, init_default_scope
from mmpretrain.structures import DataSample

import ofakd_mm  # noqa: F401  (compatibility layer, registers components)

#: Pipeline transforms whose argument fixes the training image size.
_SIZE_TRANSFORMS = (('RandomResizedCrop', 'scale'), ('RandomCrop',
                                                     'crop_size'),
                    ('CenterCrop', 'crop_size'), ('Resize', 'scale'))


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    """Command-line arguments of the benchmark."""
    parser = argparse.ArgumentParser(
        description='Time and memory of a student step, a teacher forward '
        'and a distillation step of a config.')
    parser.add_argument('config', help='distillation config file')
    parser.add_argument('--batch-size', type=int, default=16)
    parser.add_argument('--iters', type=int, default=10,
                        help='timed iterations of each measurement')
    parser.add_argument('--warmup', type=int, default=3,
                        help='untimed iterations before them')
    parser.add_argument('--device', choices=['cpu', 'cuda'], default='cpu')
    parser.add_argument('--input-size', type=int, nargs='+',
                        help='H [W]; default: the algorithm\'s input_size '
                        'or the crop/resize of the train pipeline')
    parser.add_argument('--threads', type=int,
                        help='torch CPU threads (default: torch\'s choice)')
    parser.add_argument(
        '--amp', choices=['bf16', 'fp16'],
        help='mixed precision (CUDA): AmpOptimWrapper with this dtype, the '
        'teacher forward under the same autocast')
    parser.add_argument('--channels-last', action='store_true',
                        help='set the algorithm\'s channels_last')
    parser.add_argument('--json', help='write the results to this file')
    parser.add_argument(
        '--profile', type=int, default=0, metavar='N',
        help='also profile the distillation step with torch.profiler and '
        'print the N most expensive operators (self time)')
    parser.add_argument(
        '--cfg-options', nargs='+', action=DictAction,
        help='override config settings, e.g. model.distiller.stages=[4]')
    return parser.parse_args(argv)


def infer_input_size(cfg: Config) -> Tuple[int, int]:
    """Training image size (H, W): the algorithm's ``input_size`` or the
    size of the last crop/resize of the train pipeline."""
    size = cfg.model.get('input_size', None)
    if size is None:
        pipeline = cfg.get('train_dataloader', {}).get('dataset', {}).get(
            'pipeline', [])
        for transform in reversed(pipeline):
            for name, key in _SIZE_TRANSFORMS:
                if transform.get('type') == name and key in transform:
                    size = transform[key]
                    break
            if size is not None:
                break
    if size is None:
        raise ValueError(
            'Cannot tell the input size from the config (no input_size in '
            'the model, no crop or resize in the train pipeline): pass '
            '--input-size H [W].')
    if isinstance(size, int):
        return size, size
    # mmcv scales are (W, H)
    return int(size[1]), int(size[0])


def build_algorithm(cfg: Config, device: str,
                    input_size: Tuple[int, int]) -> torch.nn.Module:
    """Build the config's model with a randomly initialised teacher."""
    init_default_scope(cfg.get('default_scope', 'mmpretrain'))
    model_cfg = copy.deepcopy(cfg.model)
    if 'teacher_ckpt' in model_cfg:
        model_cfg.teacher_ckpt = None
    if 'input_size' in model_cfg:
        model_cfg.input_size = list(input_size)
    model = MODELS.build(model_cfg)
    if hasattr(model, 'init_weights'):
        model.init_weights()
    return model.to(device)


def make_batch(batch_size: int, input_size: Tuple[int, int],
               num_classes: int, device: str) -> Dict[str, Any]:
    """A random batch as the dataloader gives it: uint8 (3, H, W) images
    and data samples with hard labels."""
    g = torch.Generator().manual_seed(0)
    h, w = input_size
    inputs = [
        torch.randint(0, 256, (3, h, w), dtype=torch.uint8, generator=g)
        for _ in range(batch_size)
    ]
    labels = torch.randint(0, num_classes, (batch_size, ), generator=g)
    samples = [DataSample().set_gt_label(int(y)) for y in labels]
    return dict(inputs=inputs, data_samples=samples)


AMP_DTYPES = {'bf16': 'bfloat16', 'fp16': 'float16'}


def optim_wrapper_cfg(cfg: Config, device: str,
                      amp: Optional[str] = None) -> Dict:
    """The config's optim wrapper, as ``--amp`` asks: an
    ``AmpOptimWrapper`` of that dtype (fp16 with dynamic loss scaling), else
    plain fp32 (also for a config's AMP wrapper on the CPU)."""
    wrapper = copy.deepcopy(cfg.optim_wrapper)
    if amp:
        wrapper.type = 'AmpOptimWrapper'
        wrapper.dtype = AMP_DTYPES[amp]
        if amp == 'fp16':
            wrapper.setdefault('loss_scale', 'dynamic')
        else:
            wrapper.pop('loss_scale', None)
    elif wrapper.get('type') == 'AmpOptimWrapper' and device == 'cpu':
        wrapper.type = 'OptimWrapper'
        for key in ('loss_scale', 'dtype', 'use_fsdp'):
            wrapper.pop(key, None)
    return wrapper


class MemoryMeter:
    """Peak extra memory of a block of code (see the module docstring)."""

    def __init__(self, device: str) -> None:
        self.device = device
        self.method = 'cuda.max_memory_allocated'
        if device == 'cpu':
            self.method = 'VmHWM' if self._reset_hwm() else 'ru_maxrss'
        self._libc = None
        if platform.system() == 'Linux':
            try:
                self._libc = ctypes.CDLL('libc.so.6')
            except OSError:
                pass

    @staticmethod
    def _reset_hwm() -> bool:
        try:
            with open('/proc/self/clear_refs', 'w') as f:
                f.write('5')
            return True
        except OSError:
            return False

    @staticmethod
    def _status_kb(field: str) -> int:
        with open('/proc/self/status') as f:
            for line in f:
                if line.startswith(field + ':'):
                    return int(line.split()[1])
        raise KeyError(field)

    def start(self) -> None:
        """Release cached memory and remember the memory in use now."""
        gc.collect()
        if self.device == 'cuda':
            torch.cuda.synchronize()
            torch.cuda.empty_cache()
            torch.cuda.reset_peak_memory_stats()
            self.base = torch.cuda.memory_allocated()
            return
        if self._libc is not None:
            self._libc.malloc_trim(0)
        if self.method == 'VmHWM':
            self.base = self._status_kb('VmRSS') * 1024
            self._reset_hwm()
        else:
            self.base = resource.getrusage(
                resource.RUSAGE_SELF).ru_maxrss * 1024

    def peak_mb(self) -> float:
        """Peak extra memory (MiB) since :meth:`start`."""
        if self.device == 'cuda':
            torch.cuda.synchronize()
            peak = torch.cuda.max_memory_allocated()
        elif self.method == 'VmHWM':
            peak = self._status_kb('VmHWM') * 1024
        else:
            peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
        return round(max(peak - self.base, 0) / 2**20, 1)


def measure(step: Callable[[], Any], iters: int, warmup: int,
            meter: MemoryMeter) -> Tuple[float, float]:
    """Median seconds of ``step`` over ``iters`` runs after ``warmup`` runs,
    and the peak extra memory (MiB) of all of them."""
    sync = torch.cuda.synchronize if meter.device == 'cuda' else (
        lambda: None)
    meter.start()
    for _ in range(warmup):
        step()
    times = []
    for _ in range(iters):
        sync()
        start = time.perf_counter()
        step()
        sync()
        times.append(time.perf_counter() - start)
    return statistics.median(times), meter.peak_mb()


def student_step(algorithm: torch.nn.Module, batch: Dict[str, Any],
                 wrapper_cfg: Dict) -> Callable[[], None]:
    """(a) A training step of the student alone: preprocessing, forward,
    loss, backward and an optimizer (the config's) over its parameters."""
    student = algorithm.student
    wrapper = build_optim_wrapper(student, copy.deepcopy(wrapper_cfg))

    channels_last = getattr(algorithm, 'channels_last', False)

    def step() -> None:
        with wrapper.optim_context(student):
            data = algorithm.data_preprocessor(batch, True)
            if channels_last:
                data['inputs'] = data['inputs'].contiguous(
                    memory_format=torch.channels_last)
            losses = student(**data, mode='loss')
        loss, _ = student.parse_losses(losses)
        wrapper.update_params(loss)

    return step


def autocast(device: str, amp: Optional[str]) -> Any:
    """The autocast context ``--amp`` asks for (a no-op without it)."""
    if not amp:
        return contextlib.nullcontext()
    return torch.autocast(device, dtype=getattr(torch, AMP_DTYPES[amp]))


def teacher_step(algorithm: torch.nn.Module, batch: Dict[str, Any],
                 amp: Optional[str] = None) -> Callable[[], None]:
    """(b) The teacher's forward as distillation runs it: eval mode,
    ``no_grad``, ``mode='tensor'``, on an already preprocessed batch in the
    teacher's normalisation, under the training autocast."""
    teacher = algorithm.teacher
    teacher.eval()
    with torch.no_grad():
        data = algorithm.data_preprocessor(batch, True)
        inputs = data['inputs']
        if getattr(algorithm, 'channels_last', False):
            inputs = inputs.contiguous(memory_format=torch.channels_last)
        if hasattr(algorithm, 'teacher_inputs'):
            inputs = algorithm.teacher_inputs(inputs)
    device = inputs.device.type

    def step() -> None:
        with torch.no_grad(), autocast(device, amp):
            teacher(inputs, data['data_samples'], mode='tensor')

    return step


def branches_step(algorithm: torch.nn.Module, batch: Dict[str, Any],
                  wrapper_cfg: Dict) -> Callable[[], None]:
    """(d) The distiller's own work: its losses (exit branches included) on
    stage features and logits recorded once without gradient, backward and
    an optimizer step over the distiller's parameters."""
    distiller = algorithm.distiller
    wrapper = build_optim_wrapper(distiller, copy.deepcopy(wrapper_cfg))
    with torch.no_grad():
        data = algorithm.data_preprocessor(batch, True)
        inputs = data['inputs']
        if hasattr(algorithm, 'teacher_inputs'):
            teacher_inputs = algorithm.teacher_inputs(inputs)
        else:
            teacher_inputs = inputs
        with distiller.teacher_recorders:
            algorithm.teacher(teacher_inputs, data['data_samples'],
                              mode='tensor')
        with distiller.student_recorders:
            algorithm.student(inputs, data['data_samples'], mode='loss')
    has_params = any(p.requires_grad for p in distiller.parameters())

    def step() -> None:
        with wrapper.optim_context(distiller):
            losses = distiller.compute_distill_losses()
        loss = sum(v for k, v in losses.items() if 'loss' in k)
        if has_params:
            wrapper.update_params(loss)

    return step


def distill_step(algorithm: torch.nn.Module, batch: Dict[str, Any],
                 wrapper_cfg: Dict) -> Callable[[], None]:
    """(c) The whole distillation step as the Runner's train loop calls it,
    with the config's optim wrapper over the algorithm."""
    wrapper = build_optim_wrapper(algorithm, copy.deepcopy(wrapper_cfg))

    def step() -> None:
        algorithm.train_step(batch, wrapper)

    return step


def run_benchmark(args: argparse.Namespace) -> Dict[str, Any]:
    """Build the algorithm of ``args.config`` and measure the three steps.

    Returns:
        dict: ``student_s``, ``teacher_s``, ``distill_s`` (median seconds),
        ``overhead_ratio``, ``peak_mem_mb`` ({student, teacher, distill}),
        and the settings measured.
    """
    if args.device == 'cuda' and not torch.cuda.is_available():
        raise ValueError('--device cuda, but torch sees no GPU: use '
                         '--device cpu.')
    if args.amp and args.device != 'cuda':
        raise ValueError(f'--amp {args.amp} needs --device cuda (mmengine\'s '
                         'AmpOptimWrapper needs a GPU).')
    if args.threads:
        torch.set_num_threads(args.threads)
    # init_weights and the optim wrapper constructor log every parameter.
    if not MMLogger.check_instance_created('benchmark'):
        MMLogger.get_instance('benchmark', log_level='WARNING')
    cfg = Config.fromfile(args.config)
    if args.cfg_options:
        cfg.merge_from_dict(args.cfg_options)
    if args.channels_last:
        cfg.model.channels_last = True
    input_size = tuple(args.input_size * 2)[:2] if args.input_size \
        else infer_input_size(cfg)
    algorithm = build_algorithm(cfg, args.device, input_size)
    for name in ('student', 'teacher'):
        if not isinstance(getattr(algorithm, name, None), torch.nn.Module):
            raise ValueError(
                f'{args.config} builds a {type(algorithm).__name__} without '
                f'a {name}: benchmark a distillation config.')
    student, teacher = algorithm.student, algorithm.teacher
    num_classes = student.head.num_classes
    batch = make_batch(args.batch_size, input_size, num_classes, args.device)
    wrapper_cfg = optim_wrapper_cfg(cfg, args.device, args.amp)
    meter = MemoryMeter(args.device)
    results: Dict[str, Any] = dict(
        config=osp.relpath(args.config), batch_size=args.batch_size,
        input_size=list(input_size), device=args.device,
        threads=torch.get_num_threads(), iters=args.iters,
        warmup=args.warmup, memory_method=meter.method,
        optim_wrapper=wrapper_cfg.get('type', 'OptimWrapper'),
        amp=args.amp, channels_last=bool(getattr(algorithm, 'channels_last',
                                                 False)),
        device_name=torch.cuda.get_device_name()
        if args.device == 'cuda' else platform.processor(),
        torch=torch.__version__,
        params_m=dict(
            student=round(sum(p.numel() for p in student.parameters()) / 1e6,
                          2),
            teacher=round(sum(p.numel() for p in teacher.parameters()) / 1e6,
                          2),
            distill_trainable=round(
                sum(p.numel() for p in algorithm.parameters()
                    if p.requires_grad) / 1e6, 2)))
    algorithm.train()
    # Built (and measured) one after the other, each freeing the gradients
    # and optimizer state of the previous one.
    builders = dict(
        student=lambda: student_step(algorithm, batch, wrapper_cfg),
        teacher=lambda: teacher_step(algorithm, batch, args.amp),
        branches=lambda: branches_step(algorithm, batch, wrapper_cfg),
        distill=lambda: distill_step(algorithm, batch, wrapper_cfg))
    times: Dict[str, float] = {}
    peaks: Dict[str, float] = {}
    step: Optional[Callable[[], None]] = None
    for name, build in builders.items():
        step = None
        algorithm.zero_grad(set_to_none=True)
        gc.collect()
        step = build()
        times[name], peaks[name] = measure(step, args.iters, args.warmup,
                                           meter)
    distill = step

    base = times['student'] + times['teacher']
    results.update(
        student_s=round(times['student'], 5),
        teacher_s=round(times['teacher'], 5),
        branches_s=round(times['branches'], 5),
        distill_s=round(times['distill'], 5),
        overhead_ratio=round(times['distill'] / base, 3),
        floor_ratio=round(times['distill'] / (base + times['branches']), 3),
        peak_mem_mb=peaks)
    results.update(count_syncs(distill, args.device))
    if args.profile:
        results['profile'] = profile_step(distill, args.profile,
                                          args.device)
    return results


#: CUDA runtime calls that block the host until the device is done.
CUDA_SYNC_CALLS = ('cudaStreamSynchronize', 'cudaDeviceSynchronize',
                   'cudaEventSynchronize')


def count_syncs(step: Callable[[], Any], device: str) -> Dict[str, int]:
    """On CUDA, the host-device syncs of one ``step`` under
    ``torch.profiler``: ``cuda_syncs`` and ``scalar_reads`` (see the module
    docstring). Nothing on the CPU, where there is no device to wait for."""
    if device != 'cuda':
        return {}
    from torch.profiler import ProfilerActivity, profile
    with profile(activities=[ProfilerActivity.CPU,
                             ProfilerActivity.CUDA]) as prof:
        step()
    names = [event.name for event in prof.events()]
    return dict(
        cuda_syncs=sum(names.count(n) for n in CUDA_SYNC_CALLS),
        scalar_reads=names.count('aten::_local_scalar_dense'))


def profile_step(step: Callable[[], Any], top: int, device: str) -> str:
    """torch.profiler table of the ``top`` operators of one ``step`` (after
    one more warm-up run), sorted by self time."""
    from torch.profiler import ProfilerActivity, profile
    activities = [ProfilerActivity.CPU]
    if device == 'cuda':
        activities.append(ProfilerActivity.CUDA)
    step()
    with profile(activities=activities) as prof:
        step()
    sort_by = 'self_cuda_time_total' if device == 'cuda' \
        else 'self_cpu_time_total'
    return prof.key_averages().table(sort_by=sort_by, row_limit=top)


def format_results(results: Dict[str, Any]) -> str:
    """Human-readable summary of :func:`run_benchmark`'s results."""
    mem = results['peak_mem_mb']
    h, w = results['input_size']
    setting = ', '.join(
        [results['amp'] or 'fp32'] +
        (['channels_last'] if results['channels_last'] else []))
    syncs = (f'{results["cuda_syncs"]} CUDA syncs, '
             f'{results["scalar_reads"]} scalar reads'
             if 'cuda_syncs' in results else 'not counted on the CPU')
    lines = [
        f'{results["config"]}: batch {results["batch_size"]} at {h}x{w} on '
        f'{results["device"]} {results["device_name"]} '
        f'({results["threads"]} threads, {setting}), median of '
        f'{results["iters"]} after {results["warmup"]} warm-up',
        f'  params (M): {results["params_m"]}',
        f'  (a) student step   {results["student_s"] * 1e3:9.1f} ms   '
        f'peak +{mem["student"]:.0f} MiB',
        f'  (b) teacher fwd    {results["teacher_s"] * 1e3:9.1f} ms   '
        f'peak +{mem["teacher"]:.0f} MiB',
        f'  (d) branches       {results["branches_s"] * 1e3:9.1f} ms   '
        f'peak +{mem["branches"]:.0f} MiB',
        f'  (c) distill step   {results["distill_s"] * 1e3:9.1f} ms   '
        f'peak +{mem["distill"]:.0f} MiB',
        f'  overhead ratio distill / (student + teacher) = '
        f'{results["overhead_ratio"]:.3f}',
        f'  floor ratio distill / (student + teacher + branches) = '
        f'{results["floor_ratio"]:.3f}',
        f'  host-device syncs in one distillation step: {syncs}',
        f'  memory: peak extra over the state before each measurement '
        f'({results["memory_method"]})',
    ]
    return '\n'.join(lines)


def main(argv: Optional[List[str]] = None) -> Dict[str, Any]:
    """Entry point: ``python tools/analysis/benchmark.py CONFIG ...``."""
    args = parse_args(argv)
    results = run_benchmark(args)
    print(format_results(results))
    profile = results.pop('profile', None)
    if profile:
        print(profile)
    if args.json:
        with open(args.json, 'w') as f:
            json.dump(results, f, indent=1)
        print(f'written to {args.json}')
    return results


if __name__ == '__main__':
    main()
