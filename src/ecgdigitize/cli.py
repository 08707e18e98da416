"""Command-line interface: ``ecgdigitize <command> ...``.

Every error the package raises on purpose is printed as one line
(``ecgdigitize: error: ...``) and exits with status 2; a bad option is
reported by argparse the same way. ``digitize`` reports a bad image the same
way, goes on with the next one and exits with status 2 at the end.
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from .errors import EcgDigitizeError, OptionError
from .layouts import layout_names, load_layouts

__all__ = ["main", "build_parser"]


def _positive_int(text: str) -> int:
    try:
        v = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None
    if v < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {v}")
    return v


def _positive_float(text: str) -> float:
    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not (math.isfinite(v) and v > 0):
        raise argparse.ArgumentTypeError(f"must be a positive number, got {text!r}")
    return v


def _gap_ms(text: str) -> float:
    from .digitize.gaps import MAX_GAP_LIMIT_S
    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    limit_ms = 1000.0 * MAX_GAP_LIMIT_S
    if not (math.isfinite(v) and 0.0 <= v <= limit_ms):
        raise argparse.ArgumentTypeError(f"must be within 0-{limit_ms:g} ms, got {text!r}")
    return v


def _choice_or_auto(what: str, unit: str, allowed: tuple[float, ...]
                    ) -> Callable[[str], float | str]:
    """Argparse type: 'auto' or one of `allowed` (a number)."""
    listing = ", ".join(f"{a:g}" for a in allowed)

    def parse(text: str) -> float | str:
        if text.strip().lower() == "auto":
            return "auto"
        try:
            v = float(text)
        except ValueError:
            v = float("nan")
        if v not in allowed:
            raise argparse.ArgumentTypeError(
                f"{what} must be {listing} {unit} or auto, got {text!r}")
        return v

    parse.__name__ = what.replace(" ", "_")
    return parse


def _dpi(text: str) -> float:
    from .paper import check_dpi

    v = _positive_float(text)
    try:
        return check_dpi(v)
    except OptionError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _formats(text: str) -> tuple[str, ...]:
    from .io.outputs import parse_formats

    try:
        return parse_formats(text)
    except OptionError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _add_render_args(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("sheet options (override the preset's random choice)")
    g.add_argument("--layout", help=f"layout name: {', '.join(layout_names())}, or one from "
                   "--layouts-file")
    g.add_argument("--layouts-file", type=Path, help="TOML or YAML file of user layouts")
    g.add_argument("--rhythm-leads", help="comma-separated rhythm strip leads, e.g. II,V1")
    g.add_argument("--speed", type=float, help="paper speed in mm/s (25 or 50)")
    g.add_argument("--gain", type=float, help="gain in mm/mV (5, 10 or 20)")
    g.add_argument("--dpi", type=float, help="resolution in dpi (100-600 typical)")
    g.add_argument("--paper", help="paper size: letter, a4, thermal")
    g.add_argument("--grid-colour", help="red, pink, green, blue, grey, black")
    g.add_argument("--grid-style", choices=("lines", "dots"))
    g.add_argument("--no-minor-grid", action="store_true", help="omit the 1 mm grid")
    g.add_argument("--ink", help="trace colour: black, blue, darkgrey, darkred")
    g.add_argument("--line-width", type=float, help="trace width in mm")
    g.add_argument("--pulse", choices=("left", "right", "none"), help="calibration pulse")
    g.add_argument("--no-labels", action="store_true", help="do not print lead names")
    g.add_argument("--no-header", action="store_true", help="do not print header text")


def _add_digitizer_options(p: argparse.ArgumentParser) -> None:
    """The options of the digitizer and its outputs, shared by ``digitize`` and ``batch``."""
    from .digitize.gaps import DEFAULT_MAX_GAP_S
    from .digitize.redundancy import FILL_MODES
    from .io.outputs import DEFAULT_FORMATS, OUTPUT_FORMATS
    from .io.pages import PDF_DEFAULT_DPI
    from .paper import GAINS_MM_MV, PAPER_SPEEDS_MM_S

    p.add_argument("--layout", default="auto",
                   help=f"layout name ({', '.join(layout_names())}, or one from "
                   "--layouts-file) or auto (default: auto)")
    p.add_argument("--layouts-file", type=Path,
                   help="TOML or YAML file of user layouts (also candidates for auto)")
    p.add_argument("--speed", type=_choice_or_auto("paper speed", "mm/s", PAPER_SPEEDS_MM_S),
                   default="auto", help="paper speed in mm/s: 25, 50 or auto (default: auto)")
    p.add_argument("--gain", type=_choice_or_auto("gain", "mm/mV", GAINS_MM_MV),
                   default="auto", help="gain in mm/mV: 5, 10, 20 or auto (default: auto)")
    p.add_argument("--fs", type=_positive_float, default=500.0,
                   help="output sampling rate in Hz (default 500)")
    p.add_argument("--dpi", type=_dpi,
                   help="scan resolution in dpi, used when the grid cannot be measured "
                   "(default: the image's metadata; for a PDF page, --pdf-dpi)")
    p.add_argument("--pdf-dpi", type=_dpi, default=PDF_DEFAULT_DPI, metavar="DPI",
                   help=f"resolution PDF pages are rendered at, in dpi (default "
                   f"{PDF_DEFAULT_DPI:g})")
    p.add_argument("--format", type=_formats, default=DEFAULT_FORMATS, metavar="LIST",
                   help=f"comma-separated output formats among {', '.join(OUTPUT_FORMATS)} "
                   "(aecg: HL7 aECG NAME.xml, dicom: DICOM 12-lead ECG NAME.dcm; "
                   f"default: {','.join(DEFAULT_FORMATS)})")
    p.add_argument("--no-overlay", action="store_true", help="do not write NAME_overlay.png")
    p.add_argument("--redundancy", choices=FILL_MODES, default="gaps",
                   help="fill limb-lead samples from the other limb leads (III = II - I, ...): "
                   "gaps: printed samples that could not be read; all: also where the lead was "
                   "not printed; none: nothing (default: gaps). With gaps and all, where five "
                   "or more limb leads are read at once, samples that disagree with the others' "
                   "consensus are replaced by it. Filled and replaced samples are marked in "
                   "the outputs; a limb lead that disagrees with the others is flagged in "
                   "every mode")
    p.add_argument("--segmenter", choices=("auto", "classical", "learned"), default="auto",
                   help="pixel separation: classical (colour and intensity), learned (the "
                   "shipped network, run with onnxruntime), or auto: classical, and the "
                   "network too where the classical reading leaves rows unexplained, "
                   "keeping the better (default: auto)")
    p.add_argument("--no-perspective", action="store_true",
                   help="do not look for a photographed sheet's paper outline to undo its "
                   "perspective")
    p.add_argument("--no-dewarp", action="store_true",
                   help="do not straighten the grid of a curled or wrinkled sheet")
    p.add_argument("--max-gap-ms", type=_gap_ms, default=1000.0 * DEFAULT_MAX_GAP_S, metavar="MS",
                   help="bridge unread stretches of a printed lead up to MS long "
                   "(interpolated, or the nearest reading held at a window's end) and mark "
                   "them as filled; 0 leaves them NaN (default: %(default)g)")


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``ecgdigitize`` command."""
    from .synth.presets import PRESETS

    parser = argparse.ArgumentParser(
        prog="ecgdigitize",
        description="Digitize paper-ECG images into calibrated 12-lead signals, generate "
        "synthetic paper ECGs with ground truth, and score digitizations.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("digitize", help="read paper-ECG images into signals (WFDB, CSV, JSON)",
                       description="Digitize each IMAGE (PNG, JPEG, TIFF, BMP, WebP, or PDF) "
                       "and write NAME.hea/.dat (WFDB), NAME.csv, NAME.json and "
                       "NAME_overlay.png into the output folder, NAME being the image's file "
                       "stem (characters other than letters, digits, - and _ become _). Every "
                       "page of a PDF or a multi-page TIFF is a sheet of its own, named "
                       "NAME_p001, NAME_p002, ...; PDF pages are rendered at --pdf-dpi. A file "
                       "or page that cannot be read is reported on one line and skipped; the "
                       "exit status is then 2.")
    p.add_argument("images", nargs="+", type=Path, metavar="IMAGE",
                   help="image or PDF files")
    p.add_argument("--out", "-o", type=Path, required=True, help="output folder")
    _add_digitizer_options(p)
    p.add_argument("--quiet", action="store_true", help="print errors only")

    _add_batch_parser(sub)

    p = sub.add_parser("synth", help="render ECG records as paper-ECG images with ground truth",
                       description="Render sheets. With --records DIR and --n N: a dataset of N "
                       "sheets from the records in DIR (WFDB folder or PTB-XL root), in "
                       "parallel and resumable. With --record PATH: sheets of that record. With "
                       "neither: sheets of the built-in simulator (a parallel dataset when "
                       "--n > 1 and no sheet option is given).")
    src = p.add_mutually_exclusive_group()
    src.add_argument("--records", type=Path, help="folder of WFDB records or a PTB-XL root")
    src.add_argument("--record", type=Path, help="one WFDB record (path with or without .hea)")
    p.add_argument("--n", type=_positive_int, default=1, help="number of sheets (default 1)")
    p.add_argument("--out", "-o", type=Path, required=True, help="output folder")
    p.add_argument("--preset", choices=PRESETS, help="condition to draw sheets from "
                   "(default: clean-scan; a dataset defaults to mixed)")
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    p.add_argument("--workers", type=_positive_int, help="worker processes (default: all cores)")
    p.add_argument("--format", choices=("png", "jpg", "auto"), default="auto",
                   help="image format (auto: JPEG when the preset compresses)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    _add_render_args(p)

    p = sub.add_parser("evaluate", help="score digitized signals against the truth",
                       description="Match truth and prediction files by name and write "
                       "summary.json, report.md and report.html.")
    p.add_argument("--truth", type=Path, required=True,
                   help="folder of ground-truth sidecars (.json) or WFDB records")
    p.add_argument("--pred", type=Path, required=True,
                   help="folder of digitized records (WFDB .hea or ecgdigitize .json)")
    p.add_argument("--out", "-o", type=Path, required=True, help="report folder")
    p.add_argument("--max-shift", type=float, default=0.1,
                   help="largest time shift in s for the reference SNR convention (default 0.1)")

    p = sub.add_parser("simulate", help="write a simulated 12-lead record (WFDB)")
    p.add_argument("--out", "-o", type=Path, required=True, help="output folder")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--duration", type=float, default=10.0, help="length in s (default 10)")
    p.add_argument("--fs", type=float, default=500.0, help="sampling rate in Hz (default 500)")
    p.add_argument("--heart-rate", type=float, help="heart rate in bpm (default: random)")
    p.add_argument("--name", default="simulated", help="record name")

    p = sub.add_parser("demo", help="the built-in example: render a sheet, read it back, score it")
    p.add_argument("--out", "-o", type=Path, default=Path("demo-output"), help="output folder")
    p.add_argument("--seed", type=int, default=7)

    sub.add_parser("layouts", help="list the built-in layouts")
    return parser


#: Command-line option -> RenderOptions attribute, for options that take a value.
_RENDER_ARGS = {"layout": "layout", "speed": "speed_mm_s", "gain": "gain_mm_mv", "dpi": "dpi",
                "paper": "paper", "grid_colour": "grid_colour", "grid_style": "grid_style",
                "ink": "ink", "line_width": "line_width_mm", "pulse": "calibration_pulse"}


def _render_overrides(args: argparse.Namespace, spec) -> None:
    r = spec.render
    if args.layouts_file is not None:
        r.layouts_extra = load_layouts(args.layouts_file)
    for arg, attr in _RENDER_ARGS.items():
        value = getattr(args, arg)
        if value is not None:
            setattr(r, attr, value)
    if args.rhythm_leads:
        r.rhythm_leads = tuple(s.strip() for s in args.rhythm_leads.split(",") if s.strip())
    if args.no_minor_grid:
        r.minor_grid = False
    if args.no_labels:
        r.lead_labels = False
    if args.no_header:
        r.header = False
    r.validate()


def _has_overrides(args: argparse.Namespace) -> bool:
    keys = (*_RENDER_ARGS, "layouts_file", "rhythm_leads")
    flags = ("no_minor_grid", "no_labels", "no_header")
    return any(getattr(args, k) is not None for k in keys) or any(getattr(args, f) for f in flags)


def _cmd_synth(args: argparse.Namespace) -> int:
    from .io.wfdbio import read_record
    from .simulator import random_params, simulate_ecg
    from .synth.dataset import make_dataset
    from .synth.groundtruth import write_sheet_files
    from .synth.presets import sample_spec
    from .synth.sheet import SheetSpec, generate_sheet

    dataset = args.records is not None or (args.record is None and args.n > 1)
    if dataset and not _has_overrides(args):
        res = make_dataset(args.out, args.n, args.preset or "mixed", args.records, args.seed,
                           args.workers, args.format, progress=not args.quiet)
        for stem, err in sorted(res.failed.items()):
            print(f"failed {stem}: {err}", file=sys.stderr)
        print(f"{len(res.written)} sheets written, {len(res.skipped)} already there, "
              f"{len(res.failed)} failed -> {args.out}")
        return 1 if res.failed else 0
    if args.records is not None:
        raise OptionError("sheet options cannot be combined with --records; use a preset")
    # Sheet options given with the simulator and --n > 1: sheets one by one below.
    root = np.random.SeedSequence(args.seed)
    for i, child in enumerate(root.spawn(args.n)):
        rng = np.random.default_rng(child)
        if args.record is not None:
            record, source = read_record(args.record), str(args.record)
        else:
            record = simulate_ecg(rng, 10.0, 500.0, random_params(rng), name=f"sim{i:06d}")
            source = "simulator"
        spec = sample_spec(args.preset, rng) if args.preset else SheetSpec(preset="custom")
        _render_overrides(args, spec)
        sheet = generate_sheet(record, spec, rng=rng, seed=args.seed, source=source)
        stem = f"{record.name}_{i:03d}" if args.n > 1 else record.name
        paths = write_sheet_files(args.out, stem, sheet.canvas, sheet.groundtruth, args.format,
                                  jpeg_quality=spec.artifacts.jpeg_quality)
        print(f"wrote {paths['image']} ({sheet.groundtruth['layout']}, "
              f"{sheet.groundtruth['speed_mm_s']:g} mm/s, {sheet.groundtruth['gain_mm_mv']:g} "
              f"mm/mV, {sheet.groundtruth['dpi']:g} dpi) and its ground truth")
    return 0


def _one_line(exc: Exception, path: Path) -> str:
    msg = " ".join(str(exc).split())
    return msg if str(path) in msg else f"{path}: {msg}"


def _page_line(exc: Exception, path: Path, label: str) -> str:
    """One line for an error on a page of `path` named `label` (``FILE`` or ``FILE page N``)."""
    if label == str(path):
        return _one_line(exc, path)
    msg = " ".join(str(exc).split())
    if msg.startswith(f"{label}:"):
        return msg
    if msg.startswith(f"{path}: "):
        msg = msg[len(str(path)) + 2:]
    return f"{label}: {msg}"


def _cmd_digitize(args: argparse.Namespace) -> int:
    from .digitize.load import DEFAULT_MAX_PIXELS
    from .errors import OutputError
    from .io.outputs import describe_result, write_outputs
    from .io.pages import iter_page_results, page_dpi
    from .layouts import get_layout

    extra = load_layouts(args.layouts_file) if args.layouts_file is not None else None
    if args.layout != "auto":
        get_layout(args.layout, extra=extra)   # an unknown name fails before any image
    if args.out.exists() and not args.out.is_dir():
        raise OutputError(f"output folder {args.out} is a file")
    used: dict[str, str] = {}
    n_sheets = n_failed = 0
    for path in args.images:
        t0 = time.perf_counter()
        try:
            # Pages one by one, the file kept open; a bad page comes as its ImageError.
            for ref, page in iter_page_results(path, args.pdf_dpi, DEFAULT_MAX_PIXELS):
                n_sheets += 1
                name = ref.name
                try:
                    if name in used:
                        raise OptionError(f"{ref.label}: output name {name!r} is already "
                                          f"taken by {used[name]}; rename one of them")
                    used[name] = ref.label
                    if isinstance(page, EcgDigitizeError):
                        raise page
                    from .digitize.pipeline import digitize

                    dpi = args.dpi if args.dpi is not None else page_dpi(ref, args.pdf_dpi)
                    result = digitize(page, layout=args.layout, speed_mm_s=args.speed,
                                      gain_mm_mv=args.gain, fs=args.fs, layouts_extra=extra,
                                      dpi=dpi, redundancy=args.redundancy,
                                      perspective=not args.no_perspective,
                                      dewarp=not args.no_dewarp, segmenter=args.segmenter,
                                      max_gap_ms=args.max_gap_ms)
                    if result.source == "<array>":
                        result.source = ref.label
                    write_outputs(result, args.out, name, args.format, image=page,
                                  overlay=not args.no_overlay)
                except EcgDigitizeError as exc:
                    line = _page_line(exc, ref.path, ref.label)
                    print(f"ecgdigitize: error: {line}", file=sys.stderr)
                    n_failed += 1
                else:
                    if not args.quiet:
                        note = f", {len(result.warnings)} warning(s)" if result.warnings else ""
                        print(f"{name}: {describe_result(result)}, "
                              f"{time.perf_counter() - t0:.2f} s{note}")
                t0 = time.perf_counter()
        except EcgDigitizeError as exc:   # the file itself cannot be opened
            print(f"ecgdigitize: error: {_one_line(exc, path)}", file=sys.stderr)
            n_sheets += 1
            n_failed += 1
    if not args.quiet and (n_sheets > 1 or len(args.images) > 1):
        print(f"{n_sheets - n_failed} of {n_sheets} sheets digitized -> {args.out}")
    return 2 if n_failed else 0


def _non_negative_float(text: str) -> float:
    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not (math.isfinite(v) and v >= 0):
        raise argparse.ArgumentTypeError(f"must be a number >= 0, got {text!r}")
    return v


def _add_batch_parser(sub) -> None:
    """The ``batch`` sub-command's options."""
    p = sub.add_parser(
        "batch", help="digitize many files in parallel, resumably (local processes or Dask)",
        description="Digitize every page of every INPUT (image, PDF or multi-page TIFF) into "
        "OUT, one page per worker process at a time, as the digitize command does. Each page "
        "is recorded in a SQLite manifest (OUT/manifest.sqlite, exported as manifest.csv): "
        "status (done, failed, timeout, oom, pending), error, detected settings, timings, "
        "worker, output files. Running the same command again skips the pages done and "
        "runs those left; failed ones only with --retry-failed. The outputs of a page appear "
        "all at once or not at all, even if the run is killed. Pages of different files that "
        "would share an output name get a suffix made from their path (recorded in the "
        "manifest). Exit status 0 when every page is done, 2 otherwise, 130 when stopped.")
    p.add_argument("inputs", nargs="+", metavar="INPUT",
                   help="a folder (its images and PDFs), a glob such as 'scans/*.png' (quoted), "
                   "a file, or a .txt list of those (one per line, # comments)")
    p.add_argument("--out", "-o", type=Path, required=True, help="output folder")
    p.add_argument("--workers", type=_positive_int,
                   help="worker processes (default: all cores)")
    p.add_argument("--recursive", "-r", action="store_true",
                   help="look into sub-folders of INPUT folders; ** in globs spans folders")
    _add_digitizer_options(p)
    g = p.add_argument_group("limits and resuming")
    g.add_argument("--timeout-s", type=_non_negative_float, default=120.0, metavar="S",
                   help="longest time a page may take, in s; its worker is then stopped and "
                   "the page recorded as timeout (default 120; 0: no limit)")
    g.add_argument("--max-memory-mb", type=_non_negative_float, default=2048.0, metavar="MB",
                   help="memory limit of a worker, in MB: a page over it is stopped and "
                   "recorded as oom (default 2048; 0: no limit)")
    g.add_argument("--retry-failed", action="store_true",
                   help="run again the pages that failed, timed out or ran out of memory")
    g.add_argument("--manifest", type=Path,
                   help="SQLite manifest (default: OUT/manifest.sqlite; the CSV export goes "
                   "beside it)")
    g.add_argument("--scheduler", metavar="ADDRESS",
                   help="run on a Dask cluster: its scheduler's address (tcp://host:port), or "
                   "'local' for a local one; inputs and OUT must be on a file system the "
                   "workers share (needs ecgdigitize[distributed])")
    p.add_argument("--quiet", action="store_true", help="no progress bar; print errors only")


#: Failed pages listed one per line at the end of a batch; the rest are counted.
_BATCH_ERRORS_SHOWN = 20


def _cmd_batch(args: argparse.Namespace) -> int:
    from .batch import DigitizeOptions, run_batch
    from .layouts import get_layout

    extra = load_layouts(args.layouts_file) if args.layouts_file is not None else None
    if args.layout != "auto":
        get_layout(args.layout, extra=extra)   # an unknown name fails before any page
    options = DigitizeOptions(layout=args.layout, speed_mm_s=args.speed, gain_mm_mv=args.gain,
                              fs=args.fs, dpi=args.dpi, pdf_dpi=args.pdf_dpi,
                              formats=tuple(args.format), overlay=not args.no_overlay,
                              layouts_extra=extra, redundancy=args.redundancy,
                              perspective=not args.no_perspective, dewarp=not args.no_dewarp,
                              segmenter=args.segmenter, max_gap_ms=args.max_gap_ms)
    summary = run_batch(args.inputs, args.out, options, workers=args.workers,
                        recursive=args.recursive, timeout_s=args.timeout_s,
                        max_memory_mb=args.max_memory_mb, retry_failed=args.retry_failed,
                        manifest_path=args.manifest, scheduler=args.scheduler,
                        progress=not args.quiet)
    failed = [r for r in summary.problems if r.status != "pending"]
    for row in failed[:_BATCH_ERRORS_SHOWN]:
        msg = row.error or row.status
        label = row.label
        if not (msg.startswith(f"{label}:") or msg.startswith(f"{row.input}:")):
            msg = f"{label}: {msg}"
        tag = "" if row.status == "failed" else f" [{row.status}]"
        print(f"ecgdigitize: error: {msg}{tag}", file=sys.stderr)
    if len(failed) > _BATCH_ERRORS_SHOWN:
        print(f"ecgdigitize: error: ... and {len(failed) - _BATCH_ERRORS_SHOWN} more pages not "
              f"done; see {summary.csv or summary.manifest}", file=sys.stderr)
    c = summary.counts
    if summary.interrupted:
        print(f"ecgdigitize: interrupted: {c['done']} of {summary.n_pages} pages done, "
              f"{c['pending']} left; run the same command again to go on", file=sys.stderr)
    elif not args.quiet:
        problems = ", ".join(f"{c[s]} {s}" for s in ("failed", "timeout", "oom") if c[s])
        print(f"{c['done']} of {summary.n_pages} pages done ({summary.n_skipped} already done"
              f"{', ' + problems if problems else ''}) in {summary.elapsed_s:.1f} s -> "
              f"{summary.out_dir}; manifest {summary.manifest}")
        if failed and not args.retry_failed:
            print("pages that failed are run again with --retry-failed")
    return summary.exit_status


def _cmd_evaluate(args: argparse.Namespace) -> int:
    from .evaluate.report import write_report
    from .evaluate.scoring import find_pairs, score_set

    pairs = find_pairs(args.truth, args.pred)
    result = score_set(pairs, max_shift_s=args.max_shift)
    paths = write_report(result, args.out)
    o = result.overall
    print(f"{o.n_sheets} sheets ({o.n_missing} without a reconstruction): SNR "
          f"{o.snr_ref_mean_db:.2f} dB mean / {o.snr_ref_median_db:.2f} dB median (reference "
          f"convention), {o.snr_chal_mean_db:.2f} dB mean (Challenge convention), Pearson "
          f"{o.pearson_mean:.3f}, RMSE {o.rmse_uv_mean:.0f} uV")
    print(f"report: {', '.join(str(p) for p in paths.values())}")
    return 0


def _cmd_simulate(args: argparse.Namespace) -> int:
    from .io.wfdbio import write_record
    from .simulator import SimulatorParams, random_params, simulate_ecg

    rng = np.random.default_rng(args.seed)
    params = random_params(rng)
    if args.heart_rate is not None:
        params = SimulatorParams(**{**params.__dict__, "heart_rate_bpm": args.heart_rate})
    rec = simulate_ecg(rng, args.duration, args.fs, params, name=args.name)
    path = write_record(rec, args.out, comments=[f"simulated by ecgdigitize, seed {args.seed}"])
    print(f"wrote {path}.hea")
    return 0


def _cmd_layouts(args: argparse.Namespace) -> int:
    from .layouts import STANDARD_LAYOUTS

    for name in layout_names():
        lay = STANDARD_LAYOUTS[name]
        print(f"{name:16s} {lay.n_rows} rows x {lay.n_cols} cols: {' '.join(lay.leads)}")
    return 0


def _cmd_demo(args: argparse.Namespace) -> int:
    from .demo import run_demo

    run_demo(args.out, args.seed)
    return 0


COMMANDS = {
    "digitize": _cmd_digitize,
    "batch": _cmd_batch,
    "synth": _cmd_synth,
    "evaluate": _cmd_evaluate,
    "simulate": _cmd_simulate,
    "layouts": _cmd_layouts,
    "demo": _cmd_demo,
}


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return COMMANDS[args.command](args)
    except EcgDigitizeError as exc:
        print(f"ecgdigitize: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("ecgdigitize: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
