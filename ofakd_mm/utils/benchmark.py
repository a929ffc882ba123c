"""What a distillation step costs over training the student alone: time,
memory and host-device syncs of the training iterations of a config.

:func:`benchmark_config` builds the algorithm of a config (the teacher with
random weights: they time the same) and measures, after warm-up, the median
time and the peak memory of:

(a) ``student``: a training iteration of the student alone (data
    preprocessing, student forward, loss, backward and optimizer step on the
    student's parameters with the config's optim wrapper, then what the
    Runner adds every iteration: the read of the logged values and the
    recipe's EMA of the student, if any);
(b) ``teacher``: one teacher forward (eval, ``no_grad``, ``mode='tensor'``
    on a preprocessed batch in the teacher's normalisation, as it runs
    inside distillation);
(c) ``distill``: a distillation training iteration,
    ``algorithm.train_step(data, optim_wrapper)`` over the whole algorithm
    (student and exit branches), then the same log read and EMA;
(d) ``branches``: the distiller's own work alone (the exit branches'
    forward, losses, backward and optimizer step on recorded, detached stage
    features),

with ``overhead_ratio = distill / (student + teacher)`` and ``floor_ratio =
distill / (student + teacher + branches)`` (1.0: a distillation step costs
what OFA-KD must compute, nothing more). Each iteration gets the batch as
the config's data loader hands it over (its ``collate_fn``; pinned on CUDA
when the loader pins); the loader's own work is not timed.

On CUDA, also the host-device syncs of one distillation iteration, from
``torch.profiler``: ``cuda_syncs`` (``cudaStreamSynchronize`` /
``cudaDeviceSynchronize`` / ``cudaEventSynchronize`` calls: a tensor read
into Python, a blocking copy) and ``scalar_reads``
(``aten::_local_scalar_dense``, which also counts reads of CPU tensors such
as the optimizer's step counters).

Memory is the peak *extra* memory of a measurement (warm-up included) over
the memory in use just before it (gradients, optimizer states, activations
and temporaries; not the weights): on CUDA ``max_memory_allocated``; on the
CPU the peak resident set size (``VmHWM``, reset before each measurement
through ``/proc/self/clear_refs`` after ``malloc_trim``; where that cannot
be written, ``ru_maxrss``, which never resets: later figures are then lower
bounds, and the results say which method was used).

``tools/analysis/benchmark.py`` is the command line of one config,
``tools/analysis/gpu_report.py`` that of the README's GPU table.
"""
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
from functools import partial
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

import torch
from mmengine.config import Config
from mmengine.logging import MMLogger
from mmengine.optim import build_optim_wrapper
from mmengine.registry import FUNCTIONS, MODELS, init_default_scope
from mmpretrain.structures import DataSample

from ..engine.hooks.runtime_info_hook import read_scalars
from ..models.utils.input_size import train_image_size

#: torch dtypes of ``amp``; bf16 needs no loss scaling, so its
#: ``AmpOptimWrapper`` runs without a GradScaler (whose inf check reads the
#: device every step).
AMP_DTYPES = {'bf16': 'bfloat16', 'fp16': 'float16'}
#: CUDA runtime calls that block the host until the device is done.
CUDA_SYNC_CALLS = ('cudaStreamSynchronize', 'cudaDeviceSynchronize',
                   'cudaEventSynchronize')
Step = Callable[[], Any]


def optim_wrapper_cfg(cfg: Config, device: str,
                      amp: Optional[str] = None) -> Dict:
    """The config's optim wrapper as ``amp`` asks: an ``AmpOptimWrapper`` of
    that dtype (fp16 with dynamic loss scaling, bf16 without), else plain
    fp32 (also for a config's AMP wrapper on the CPU)."""
    wrapper = copy.deepcopy(cfg.optim_wrapper)
    if amp:
        wrapper.type = 'AmpOptimWrapper'
        wrapper.dtype = AMP_DTYPES[amp]
        wrapper.loss_scale = 'dynamic' if amp == 'fp16' else dict(
            enabled=False)
    elif wrapper.get('type') == 'AmpOptimWrapper' and device == 'cpu':
        wrapper.type = 'OptimWrapper'
        for key in ('loss_scale', 'dtype', 'use_fsdp'):
            wrapper.pop(key, None)
    return wrapper


def build_algorithm(cfg: Config, device: str,
                    input_size: Tuple[int, int]) -> torch.nn.Module:
    """The config's model on ``device``, its teacher randomly initialised
    (``teacher_ckpt`` None) and its ``input_size`` (if any) set."""
    init_default_scope(cfg.get('default_scope', 'mmpretrain'))
    model_cfg = copy.deepcopy(cfg.model)
    if 'teacher_ckpt' in model_cfg:
        model_cfg.teacher_ckpt = None
    if 'input_size' in model_cfg:
        model_cfg.input_size = list(input_size)
    if cfg.get('data_preprocessor') is not None:  # as the Runner does
        model_cfg.setdefault('data_preprocessor', cfg.data_preprocessor)
    model = MODELS.build(model_cfg)
    if hasattr(model, 'init_weights'):
        model.init_weights()
    return model.to(device)


def batch_factory(cfg: Config, batch_size: int, input_size: Tuple[int, int],
                  num_classes: int, device: str) -> Callable[[], Dict]:
    """A function giving a fresh random batch as the config's train loader
    hands it over: uint8 (3, H, W) images and data samples with CPU hard
    labels, through its ``collate_fn`` (mmengine's ``pseudo_collate`` if it
    names none), the images pinned on CUDA if the loader pins. The images
    are made once; the data samples anew for each call (the data
    preprocessor moves their labels to the device)."""
    loader = cfg.get('train_dataloader') or {}
    collate_cfg = dict(loader.get('collate_fn') or dict(type='pseudo_collate'))
    collate = FUNCTIONS.get(collate_cfg.pop('type'))
    collate = partial(collate, **collate_cfg)
    g = torch.Generator().manual_seed(0)
    h, w = input_size
    images = [
        torch.randint(0, 256, (3, h, w), dtype=torch.uint8, generator=g)
        for _ in range(batch_size)
    ]
    labels = torch.randint(0, num_classes, (batch_size, ), generator=g)
    inputs = collate([dict(inputs=image) for image in images])['inputs']
    if device == 'cuda' and loader.get('pin_memory'):
        inputs = inputs.pin_memory() if isinstance(inputs, torch.Tensor) \
            else [image.pin_memory() for image in inputs]

    def batch() -> Dict:
        samples = [DataSample().set_gt_label(int(y)) for y in labels]
        return dict(inputs=inputs, data_samples=samples)

    return batch


def ema_hook(cfg: Config) -> Optional[Dict]:
    """The config of the recipe's EMA hook (``EMAHook`` or
    ``StudentEMAHook``), or None."""
    return next((dict(h) for h in cfg.get('custom_hooks') or ()
                 if str(h.get('type', '')).split('.')[-1] in (
                     'EMAHook', 'StudentEMAHook')), None)


def recipe_ema(cfg: Config, model: torch.nn.Module) -> Optional[Step]:
    """The update of the recipe's EMA hook, whose averaged copy of
    ``model`` it builds, or None without one."""
    hook = ema_hook(cfg)
    if hook is None:
        return None
    kind = hook.pop('type').split('.')[-1]
    default = 'ForeachExponentialMovingAverage' \
        if kind == 'StudentEMAHook' else 'ExponentialMovingAverage'
    ema_cfg = dict(type=hook.get('ema_type', default))
    for key in ('momentum', 'interval', 'update_buffers'):
        if key in hook:
            ema_cfg[key] = hook[key]
    ema = MODELS.build(ema_cfg, default_args=dict(model=model))
    return lambda: ema.update_parameters(model)


class MemoryMeter:
    """Peak extra memory of a block of code (see the module docstring)."""

    def __init__(self, device: str) -> None:
        self.device = device
        self.method = 'cuda.max_memory_allocated'
        if device == 'cpu':
            self.method = 'VmHWM' if self._reset_hwm() else 'ru_maxrss'
        self._libc = None
        if platform.system() == 'Linux':
            with contextlib.suppress(OSError):
                self._libc = ctypes.CDLL('libc.so.6')

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


def measure(step: Callable[[Any], Any], make_input: Callable[[], Any],
            iters: int, warmup: int,
            meter: MemoryMeter) -> Tuple[float, float]:
    """Median seconds of ``step(make_input())`` over ``iters`` runs after
    ``warmup`` runs (``make_input`` untimed), and the peak extra memory
    (MiB) of all of them."""
    sync = torch.cuda.synchronize if meter.device == 'cuda' else (
        lambda: None)
    meter.start()
    for _ in range(warmup):
        step(make_input())
    times = []
    for _ in range(iters):
        data = make_input()
        sync()
        start = time.perf_counter()
        step(data)
        sync()
        times.append(time.perf_counter() - start)
    return statistics.median(times), meter.peak_mb()


def count_syncs(step: Callable[[Any], Any], data: Any,
                device: str) -> Dict[str, int]:
    """On CUDA, the host-device syncs of one ``step(data)`` under
    ``torch.profiler``: ``cuda_syncs`` and ``scalar_reads`` (see the module
    docstring). Nothing on the CPU, where there is no device to wait for."""
    if device != 'cuda':
        return {}
    from torch.profiler import ProfilerActivity, profile
    torch.cuda.synchronize()
    with profile(activities=[ProfilerActivity.CPU,
                             ProfilerActivity.CUDA]) as prof:
        step(data)
    names = [event.name for event in prof.events()]
    return dict(
        cuda_syncs=sum(names.count(n) for n in CUDA_SYNC_CALLS),
        scalar_reads=names.count('aten::_local_scalar_dense'))


def profile_table(step: Callable[[Any], Any], data: Any, top: int,
                  device: str) -> str:
    """torch.profiler table of the ``top`` operators of one ``step(data)``,
    sorted by self time."""
    from torch.profiler import ProfilerActivity, profile
    activities = [ProfilerActivity.CPU]
    if device == 'cuda':
        activities.append(ProfilerActivity.CUDA)
    with profile(activities=activities) as prof:
        step(data)
    sort_by = 'self_cuda_time_total' if device == 'cuda' \
        else 'self_cpu_time_total'
    return prof.key_averages().table(sort_by=sort_by, row_limit=top)


def autocast(device: str, amp: Optional[str]) -> Any:
    """The autocast context ``amp`` asks for (a no-op without it)."""
    if not amp:
        return contextlib.nullcontext()
    return torch.autocast(device, dtype=getattr(torch, AMP_DTYPES[amp]))


def student_step(algorithm: torch.nn.Module, wrapper_cfg: Dict,
                 ema: Optional[Step]) -> Callable[[Dict], None]:
    """(a) A training iteration of the student alone."""
    student = algorithm.student
    wrapper = build_optim_wrapper(student, copy.deepcopy(wrapper_cfg))
    channels_last = getattr(algorithm, 'channels_last', False)

    def step(batch: Dict) -> None:
        with wrapper.optim_context(student):
            data = algorithm.data_preprocessor(batch, True)
            if channels_last:
                data['inputs'] = data['inputs'].contiguous(
                    memory_format=torch.channels_last)
            losses = student(**data, mode='loss')
        loss, log_vars = student.parse_losses(losses)
        wrapper.update_params(loss)
        read_scalars(log_vars)
        if ema is not None:
            ema()

    return step


def teacher_step(algorithm: torch.nn.Module, batch: Dict,
                 amp: Optional[str]) -> Tuple[Callable[[Any], None], Any]:
    """(b) The teacher's forward as distillation runs it, and its input:
    the preprocessed batch in the teacher's normalisation."""
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

    def step(data_samples: List) -> None:
        with torch.no_grad(), autocast(device, amp):
            teacher(inputs, data_samples, mode='tensor')

    return step, data['data_samples']


def branches_step(algorithm: torch.nn.Module, batch: Dict,
                  wrapper_cfg: Dict) -> Callable[[Any], None]:
    """(d) The distiller's own work: its losses (exit branches included) on
    stage features and logits recorded once without gradient, backward and
    an optimizer step over the distiller's parameters."""
    distiller = algorithm.distiller
    wrapper = build_optim_wrapper(distiller, copy.deepcopy(wrapper_cfg))
    with torch.no_grad():
        data = algorithm.data_preprocessor(batch, True)
        inputs = data['inputs']
        teacher_inputs = algorithm.teacher_inputs(inputs) \
            if hasattr(algorithm, 'teacher_inputs') else inputs
        with distiller.teacher_recorders:
            algorithm.teacher(teacher_inputs, data['data_samples'],
                              mode='tensor')
        with distiller.student_recorders:
            algorithm.student(inputs, data['data_samples'], mode='loss')
    has_params = any(p.requires_grad for p in distiller.parameters())

    def step(_: Any) -> None:
        with wrapper.optim_context(distiller):
            losses = distiller.compute_distill_losses()
        loss = sum(v for k, v in losses.items() if 'loss' in k)
        if has_params:
            wrapper.update_params(loss)

    return step


def distill_step(algorithm: torch.nn.Module, wrapper_cfg: Dict,
                 ema: Optional[Step]) -> Callable[[Dict], None]:
    """(c) A distillation training iteration as the Runner runs it."""
    wrapper = build_optim_wrapper(algorithm, copy.deepcopy(wrapper_cfg))

    def step(batch: Dict) -> None:
        read_scalars(algorithm.train_step(batch, wrapper))
        if ema is not None:
            ema()

    return step


def benchmark_config(config: str,
                     batch_size: int = 16,
                     iters: int = 10,
                     warmup: int = 3,
                     device: str = 'cpu',
                     input_size: Optional[Sequence[int]] = None,
                     threads: Optional[int] = None,
                     amp: Optional[str] = None,
                     channels_last: bool = False,
                     profile: int = 0,
                     cfg_options: Optional[Dict] = None) -> Dict[str, Any]:
    """Measure the iterations (a)-(d) of a distillation config.

    Args:
        config (str): Distillation config file.
        batch_size (int): Images per iteration. Defaults to 16.
        iters (int): Timed iterations of each measurement. Defaults to 10.
        warmup (int): Untimed iterations before them. Defaults to 3.
        device (str): ``'cpu'`` or ``'cuda'``. Defaults to ``'cpu'``.
        input_size (Sequence[int], optional): (H, W) or (S, ); default: the
            config's (``model.input_size``, or its train pipeline's crop).
        threads (int, optional): torch CPU threads.
        amp (str, optional): ``'bf16'`` or ``'fp16'`` mixed precision (CUDA).
        channels_last (bool): Set the algorithm's ``channels_last``.
        profile (int): Also return the torch.profiler table of the ``N``
            most expensive operators of a distillation iteration.
        cfg_options (dict, optional): ``merge_from_dict`` overrides.

    Returns:
        dict: ``student_s``, ``teacher_s``, ``branches_s``, ``distill_s``
        (median seconds), images/s, ``overhead_ratio``, ``floor_ratio``,
        ``peak_mem_mb``, the syncs (CUDA) and the settings measured.
    """
    if device == 'cuda' and not torch.cuda.is_available():
        raise ValueError("device 'cuda', but torch sees no GPU: use 'cpu'.")
    if amp and device != 'cuda':
        raise ValueError(f'amp {amp!r} needs a CUDA device (mmengine\'s '
                         'AmpOptimWrapper needs a GPU): --device cuda.')
    if threads:
        torch.set_num_threads(threads)
    # init_weights and the optim wrapper constructor log every parameter.
    if not MMLogger.check_instance_created('benchmark'):
        MMLogger.get_instance('benchmark', log_level='WARNING')
    cfg = Config.fromfile(config)
    if cfg_options:
        cfg.merge_from_dict(cfg_options)
    if channels_last:
        cfg.model.channels_last = True
    if input_size:
        size = (int(input_size[0]), int(input_size[-1]))
    else:
        size = train_image_size(cfg)
        if size is None:
            raise ValueError(
                f'{config}: cannot tell the input size (no input_size in the '
                'model, no crop or resize to a fixed size in the train '
                'pipeline): pass it (--input-size H [W]).')
    algorithm = build_algorithm(cfg, device, size)
    for name in ('student', 'teacher'):
        if not isinstance(getattr(algorithm, name, None), torch.nn.Module):
            raise ValueError(
                f'{config} builds a {type(algorithm).__name__} without a '
                f'{name}: benchmark a distillation config.')
    student, teacher = algorithm.student, algorithm.teacher
    batch = batch_factory(cfg, batch_size, size, student.head.num_classes,
                          device)
    wrapper_cfg = optim_wrapper_cfg(cfg, device, amp)
    meter = MemoryMeter(device)
    results: Dict[str, Any] = dict(
        config=osp.relpath(config), batch_size=batch_size,
        input_size=list(size), device=device,
        threads=torch.get_num_threads(), iters=iters, warmup=warmup,
        memory_method=meter.method,
        optim_wrapper=wrapper_cfg.get('type', 'OptimWrapper'), amp=amp,
        channels_last=bool(getattr(algorithm, 'channels_last', False)),
        collate_fn=(cfg.train_dataloader.get('collate_fn') or {}).get(
            'type', 'pseudo_collate'),
        ema=ema_hook(cfg) is not None,
        device_name=torch.cuda.get_device_name()
        if device == 'cuda' else platform.processor(),
        torch=torch.__version__,
        params_m=dict(
            student=_millions(student.parameters()),
            teacher=_millions(teacher.parameters()),
            distill_trainable=_millions(
                p for p in algorithm.parameters() if p.requires_grad)))
    algorithm.train()
    # Built (and measured) one after the other, each freeing the gradients
    # and optimizer state of the previous one.
    builders = dict(
        student=lambda: (student_step(algorithm, wrapper_cfg,
                                      recipe_ema(cfg, student)), batch),
        teacher=lambda: _constant_input(teacher_step(algorithm, batch(),
                                                     amp)),
        branches=lambda: _constant_input(
            (branches_step(algorithm, batch(), wrapper_cfg), None)),
        distill=lambda: (distill_step(algorithm, wrapper_cfg,
                                      recipe_ema(cfg, student)), batch))
    times: Dict[str, float] = {}
    peaks: Dict[str, float] = {}
    for name, build in builders.items():
        step = make_input = None
        algorithm.zero_grad(set_to_none=True)
        gc.collect()
        step, make_input = build()
        times[name], peaks[name] = measure(step, make_input, iters, warmup,
                                           meter)

    base = times['student'] + times['teacher']
    results.update(
        student_s=round(times['student'], 5),
        teacher_s=round(times['teacher'], 5),
        branches_s=round(times['branches'], 5),
        distill_s=round(times['distill'], 5),
        student_img_s=round(batch_size / times['student'], 1),
        distill_img_s=round(batch_size / times['distill'], 1),
        overhead_ratio=round(times['distill'] / base, 3),
        floor_ratio=round(times['distill'] / (base + times['branches']), 3),
        peak_mem_mb=peaks)
    results.update(count_syncs(step, batch(), device))
    if profile:
        results['profile'] = profile_table(step, batch(), profile, device)
    return results


def record_run(runs: List[Dict[str, Any]], result: Dict[str, Any],
               json_path: Optional[str], device: str) -> None:
    """Append ``result`` to ``runs``, write all runs so far to
    ``json_path`` (if any: a run stopped by a timeout keeps what was
    measured) and release the GPU's cached memory for the next run."""
    runs.append(result)
    if json_path:
        with open(json_path, 'w') as f:
            json.dump(runs, f, indent=1)
    if device == 'cuda':
        torch.cuda.empty_cache()


def _millions(params) -> float:
    return round(sum(p.numel() for p in params) / 1e6, 2)


def _constant_input(step_and_input: Tuple[Callable, Any]
                    ) -> Tuple[Callable, Callable[[], Any]]:
    step, data = step_and_input
    return step, lambda: data


def format_results(results: Dict[str, Any]) -> str:
    """Human-readable summary of :func:`benchmark_config`'s results."""
    mem = results['peak_mem_mb']
    h, w = results['input_size']
    setting = ', '.join(
        [results['amp'] or 'fp32'] +
        (['channels_last'] if results['channels_last'] else []))
    syncs = (f'{results["cuda_syncs"]} CUDA syncs, '
             f'{results["scalar_reads"]} scalar reads'
             if 'cuda_syncs' in results else 'not counted on the CPU')
    extras = ', '.join([results['collate_fn']] +
                       (['EMA'] if results['ema'] else []))
    lines = [
        f'{results["config"]}: batch {results["batch_size"]} at {h}x{w} on '
        f'{results["device"]} {results["device_name"]} '
        f'({results["threads"]} threads, {setting}; {extras}), median of '
        f'{results["iters"]} after {results["warmup"]} warm-up',
        f'  params (M): {results["params_m"]}',
        f'  (a) student iteration {results["student_s"] * 1e3:9.1f} ms '
        f'{results["student_img_s"]:8.0f} img/s  '
        f'peak +{mem["student"]:.0f} MiB',
        f'  (b) teacher forward   {results["teacher_s"] * 1e3:9.1f} ms '
        f'{"":14}peak +{mem["teacher"]:.0f} MiB',
        f'  (d) exit branches     {results["branches_s"] * 1e3:9.1f} ms '
        f'{"":14}peak +{mem["branches"]:.0f} MiB',
        f'  (c) distill iteration {results["distill_s"] * 1e3:9.1f} ms '
        f'{results["distill_img_s"]:8.0f} img/s  '
        f'peak +{mem["distill"]:.0f} MiB',
        f'  overhead ratio distill / (student + teacher) = '
        f'{results["overhead_ratio"]:.3f}',
        f'  floor ratio distill / (student + teacher + branches) = '
        f'{results["floor_ratio"]:.3f}',
        f'  host-device syncs in one distillation iteration: {syncs}',
        f'  memory: peak extra over the state before each measurement '
        f'({results["memory_method"]})',
    ]
    return '\n'.join(lines)


def markdown_table(runs: List[Dict[str, Any]]) -> str:
    """Markdown table of :func:`benchmark_config` results (ms per
    iteration, images/s, ratios, syncs, MiB)."""
    lines = [
        '| config | batch | dtype | channels_last | student ms | teacher ms '
        '| branches ms | distill ms | distill img/s | ratio | floor ratio '
        '| CUDA syncs | peak MiB (s / t / b / d) | torch |',
        '|' + '---|' * 14,
    ]
    for run in runs:
        mem = run['peak_mem_mb']
        lines.append(
            f'| {osp.basename(run["config"])} | {run["batch_size"]} | '
            f'{run["amp"] or "fp32"} | {run["channels_last"]} | '
            f'{run["student_s"] * 1e3:.1f} | {run["teacher_s"] * 1e3:.1f} | '
            f'{run["branches_s"] * 1e3:.1f} | {run["distill_s"] * 1e3:.1f} | '
            f'{run["distill_img_s"]:.0f} | {run["overhead_ratio"]:.3f} | '
            f'{run["floor_ratio"]:.3f} | {run.get("cuda_syncs", "-")} | '
            f'{mem["student"]:.0f} / {mem["teacher"]:.0f} / '
            f'{mem["branches"]:.0f} / {mem["distill"]:.0f} | '
            f'{run["torch"]} |')
    return '\n'.join(lines)
