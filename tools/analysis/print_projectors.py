"""Print the OFA-KD projectors a config builds: per stage the student
module, its output shape, grid, extra tokens and why it was chosen (the
lines ``OFAKDDistill`` logs at build and stores in checkpoint meta), then
the projector and its parameter count. The config's ``input_size`` is
checked against its train pipeline first.

With ``--teacher`` (or ``--student``), also list that model's modules and
their output shapes at ``input_size``, in forward order: the names and
shapes a feature loss added to ``distiller.distill_losses`` needs."""
import argparse
from typing import Dict, List, Tuple

import torch
from mmengine.config import Config, DictAction
from mmengine.registry import init_default_scope
from mmrazor.registry import MODELS
from torch import nn

import ofakd_mm  # noqa: F401  (compatibility layer, registers components)
from ofakd_mm.models.distillers import OFAKDDistiller, format_stage
from ofakd_mm.models.utils import check_input_size
from ofakd_mm.models.utils.stage_discovery import as_hw


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument('config', help='an OFA-KD distillation config file')
    parser.add_argument('--teacher', action='store_true',
                        help="list the teacher's modules and output shapes")
    parser.add_argument('--student', action='store_true',
                        help="list the student's modules and output shapes")
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='override config settings')
    return parser.parse_args()


def describe(cfg: Dict) -> str:
    """One-line description of a projector config."""
    if cfg['type'] == 'OFAKDConvProjector':
        layout = ' NHWC' if cfg.get('data_format') == 'channels_last' else ''
        return f"feature map C={cfg['in_channels']}{layout}"
    grid = cfg['grid_size']
    grid = grid if isinstance(grid, int) else 'x'.join(map(str, grid))
    return (f"tokens E={cfg['embed_dim']} grid={grid} "
            f"extra={cfg.get('num_extra_tokens', 0)}")


def params_of(module: nn.Module) -> int:
    """Number of parameters of a module."""
    return sum(p.numel() for p in module.parameters())


def _shape(output) -> str:
    if isinstance(output, torch.Tensor):
        return str(tuple(output.shape[1:]))
    if isinstance(output, (tuple, list)):
        shapes = [_shape(o) for o in output]
        return '(' + ', '.join(s for s in shapes if s) + ')'
    return ''


@torch.no_grad()
def module_outputs(model: nn.Module, input_size: Tuple[int, int],
                   mode: str) -> List[Tuple[str, int, str, int]]:
    """Every module call of one forward of ``model`` on zeros (eval mode):
    ``(name, depth, output shape without the batch, number of calls)``,
    in the order the calls start."""
    rows: Dict[str, List] = {}
    depth = [0]
    handles = []
    for name, module in model.named_modules():
        if not name or name == 'data_preprocessor':
            continue

        def pre(mod, inputs, name=name):
            if name in rows:
                rows[name][3] += 1
            else:
                rows[name] = [name, depth[0], '', 1]
            depth[0] += 1

        def post(mod, inputs, output, name=name):
            depth[0] -= 1
            rows[name][2] = rows[name][2] or _shape(output)

        handles += [module.register_forward_pre_hook(pre),
                    module.register_forward_hook(post)]
    x = torch.zeros(1, 3, *input_size,
                    device=next(model.parameters()).device)
    model.eval()
    try:
        model(x, mode=mode)
    finally:
        for handle in handles:
            handle.remove()
    return [tuple(r) for r in rows.values()]


def print_modules(model: nn.Module, role: str,
                  input_size: Tuple[int, int]) -> None:
    """Print :func:`module_outputs` of the tensor-mode forward (what the
    teacher runs in training, and the student's modules alike)."""
    print(f'\n{role} modules at {input_size[0]}x{input_size[1]} '
          '(name: output shape without the batch)')
    for name, depth, shape, calls in module_outputs(model, input_size,
                                                    'tensor'):
        times = f'  ({calls} calls)' if calls > 1 else ''
        print(f"{'  ' * depth}{name}: {shape or '-'}{times}")


def main() -> None:
    args = parse_args()
    cfg = Config.fromfile(args.config)
    if args.cfg_options:
        cfg.merge_from_dict(args.cfg_options)
    checked = check_input_size(cfg)
    init_default_scope(cfg.get('default_scope', 'mmpretrain'))
    model_cfg = cfg.model
    model_cfg.teacher_ckpt = None  # shapes only: no weights needed
    model_cfg.setdefault('data_preprocessor', cfg.get('data_preprocessor'))
    algo = MODELS.build(model_cfg)
    distiller = algo.distiller
    student = type(getattr(algo.student, 'backbone', algo.student)).__name__
    teacher = type(getattr(algo.teacher, 'backbone', algo.teacher)).__name__
    input_size = as_hw(getattr(algo, 'input_size', 224))
    line = f'{args.config}\nstudent {student}, teacher {teacher}'
    if hasattr(algo, 'input_size'):
        line += f', input {algo.input_size}'
    if checked:
        line += f' (the train pipeline gives {checked[0]}x{checked[1]})'
    print(line)
    if not isinstance(distiller, OFAKDDistiller):
        print('connectors declared in the config:')
        total = 0
        for name, connector in distiller.connectors.items():
            total += params_of(connector)
            print(f'{name:<8}{type(connector).__name__:<24}'
                  f'{params_of(connector):>12,}')
        print(f'{"total":<32}{total:>12,}')
    else:
        first = next(iter(distiller.projector_cfgs.values()))
        print(f'd_S={first["student_dim"]}, '
              f'num_classes={first["num_classes"]}')
        for info in distiller.stage_info:
            print(format_stage(info))
        header = f'{"stage":<8}{"projector":<22}{"input":<34}{"params":>12}'
        print(header + '\n' + '-' * len(header))
        total = 0
        for name, pcfg in distiller.projector_cfgs.items():
            params = params_of(distiller.connectors[name])
            total += params
            print(f'{name:<8}{pcfg["type"]:<22}{describe(pcfg):<34}'
                  f'{params:>12,}')
        print(f'{"total":<{len(header) - 12}}{total:>12,}')
    if args.teacher:
        print_modules(algo.teacher, 'teacher', input_size)
    if args.student:
        print_modules(algo.student, 'student', input_size)


if __name__ == '__main__':
    main()
