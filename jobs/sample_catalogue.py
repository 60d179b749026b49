"""`restyle sample-catalogue -o OUT`: write the sample catalogue with ground truth
(``pipelines.sample_catalogue``, which documents the layout)."""

from __future__ import annotations

import argparse

from jobs.config import add_config_args, load_config
from pipelines import storage
from pipelines.sample_catalogue import SampleCatalogueConfig, write_sample_catalogue
from stylecore.config import ConfigError


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "sample-catalogue",
        help="write a synthetic product catalogue with ground-truth masks and style sets",
        description=(
            "Render product photos (bottle, mug, sneaker, handbag, box, watch, headphones) "
            "on white, grey, gradient and paper backgrounds, with ground-truth masks, plus "
            "five procedural style reference sets. The same --seed always gives "
            "byte-identical files. The contact shadow is background, never product."
        ),
    )
    p.add_argument("-o", "--out", help="output folder or URI (created if missing)")
    p.add_argument("out_pos", nargs="?", metavar="OUT", help=argparse.SUPPRESS)
    p.add_argument("--count", type=int, help="number of product photos (default 24)")
    p.add_argument("--seed", type=int, help="random seed (default 0)")
    p.add_argument(
        "--real-styles",
        action="store_true",
        default=None,
        help="also write two looks learned from real photographs that scikit-image ships "
        "(brick: a brick wall; hubble: the Hubble Deep Field), four references each",
    )
    p.add_argument(
        "--no-contact-sheet",
        dest="contact_sheet",
        action="store_false",
        default=None,
        help="skip contact_sheet.png",
    )
    add_config_args(p, example="seed=3")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    args.out = args.out or args.out_pos  # OUT as a positional: the old spelling
    if not args.out:
        raise ConfigError("-o/--out is required: the folder or URI to write the catalogue to")
    cfg = load_config(
        SampleCatalogueConfig,
        args.config,
        args.set_,
        {
            "count": args.count,
            "seed": args.seed,
            "contact_sheet": args.contact_sheet,
            "real_styles": args.real_styles,
        },
    )
    summary = write_sample_catalogue(args.out, cfg)
    print(
        f"wrote {summary['images']} photos and {summary['style_refs']} style references "
        f"to {args.out}"
    )
    print(f"catalogue table: {storage.join(args.out, 'catalogue.csv')}")
    if cfg.contact_sheet:
        print(f"contact sheet:   {storage.join(args.out, 'contact_sheet.png')}")
    return 0
