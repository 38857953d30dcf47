"""``treemtl pretrained import``: a downloaded ImageNet state_dict under a backbone's names, ready
for ``backbone.weights``."""

from __future__ import annotations

import argparse

from treemtl.errors import TreeMTLError


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("pretrained", help="prepare pretrained backbone weights (backbone.weights)")
    commands = parser.add_subparsers(dest="pretrained_command", required=True, parser_class=type(parser))
    convert = commands.add_parser(
        "import",
        help="convert a torchvision/timm state_dict file to a backbone's parameter names",
        description="Matches keys by name (wrapper prefixes and classifier parts dropped), then the rest by order "
                    "and shape; reports what matched and what was left over. Nothing is downloaded.",
    )
    convert.add_argument("--src", required=True, help="the downloaded state_dict (.pth/.pt)")
    convert.add_argument("--out", required=True, help="state_dict to write (set backbone.weights to it)")
    convert.add_argument("--backbone", default=None, help="backbone name (default: the config's backbone.name)")
    convert.add_argument("--config", default=None, help="experiment config whose backbone.name is used")
    convert.set_defaults(func=run_import)


def run_import(args: argparse.Namespace) -> int:
    from treemtl.atomic import save_torch_atomic
    from treemtl.nets.backbones import build_backbone
    from treemtl.nets.pretrained import convert_state_dict, read_state_dict

    name = args.backbone
    if name is None and args.config is not None:
        from treemtl.training.config import load_config

        name = load_config(args.config).backbone.name
    if name is None:
        raise TreeMTLError("pretrained import: give --backbone or --config")
    conversion = convert_state_dict(read_state_dict(args.src), build_backbone(name), where=args.src)
    save_torch_atomic(args.out, conversion.state)
    print(f"{args.out}: {len(conversion.state)} entries for {name}: {conversion.by_name} matched by name, "
          f"{conversion.by_order} by order; {len(conversion.defaulted)} BatchNorm counters kept; "
          f"{len(conversion.unused)} unused tensors of the file" +
          (f" ({', '.join(conversion.unused[:5])}{', ...' if len(conversion.unused) > 5 else ''})" if conversion.unused else ""))
    return 0
