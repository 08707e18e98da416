"""The built-in example run by ``ecgdigitize demo`` (and ``make demo``).

It needs no data: the simulator makes a 12-lead record, the generator renders
it as a clean 3x4 sheet with a lead II rhythm strip and writes the image,
masks and sidecar; the digitizer reads the image (and nothing else: layout,
speed, gain and scale are detected) and writes WFDB, CSV, JSON and an overlay
PNG; the evaluation scores the digitized signals against the truth and
writes a report.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .digitize.load import load_image
from .digitize.pipeline import digitize
from .evaluate.report import write_report
from .evaluate.scoring import find_pairs, score_set
from .io.outputs import describe_result, write_outputs
from .io.wfdbio import write_record
from .simulator import SimulatorParams, simulate_ecg
from .synth.groundtruth import write_sheet_files
from .synth.render import RenderOptions
from .synth.sheet import SheetSpec, generate_sheet

__all__ = ["run_demo"]


def run_demo(out_dir: str | Path, seed: int = 7, verbose: bool = True) -> dict:
    """Render a sample sheet, read it back, score it; return the summary.

    Parameters
    ----------
    out_dir : str or Path
        Output folder; gets ``sheet/`` (image, masks, sidecar), ``record/``
        (the source record as WFDB), ``digitized/`` (signals read back) and
        ``report/`` (summary.json, report.md, report.html).
    seed : int
        Seed of the simulated record and the sheet.
    verbose : bool
        Print what is written and the scores.

    Returns
    -------
    dict
        The set summary (overall aggregate).
    """
    out = Path(out_dir)
    rng = np.random.default_rng(seed)
    record = simulate_ecg(rng, 10.0, 500.0, SimulatorParams(heart_rate_bpm=75.0),
                          name="demo")
    write_record(record, out / "record", comments=[f"ecgdigitize demo, seed {seed}"])
    spec = SheetSpec(render=RenderOptions(layout="3x4+1", dpi=200), preset="clean-scan")
    sheet = generate_sheet(record, spec, rng=rng, seed=seed, source="simulator")
    paths = write_sheet_files(out / "sheet", "demo", sheet.canvas, sheet.groundtruth, "png")
    digitized = digitize(paths["image"])
    outputs = write_outputs(digitized, out / "digitized", "demo",
                            image=load_image(paths["image"]))
    result = score_set(find_pairs(out / "sheet", out / "digitized"))
    report_paths = write_report(result, out / "report", title="ecgdigitize demo")
    summary = result.overall.to_dict()
    if verbose:
        print(f"sheet:     {paths['image']} (+ masks, ground truth {paths['json'].name})")
        print(f"digitized: {describe_result(digitized)}")
        print(f"outputs:   {', '.join(str(p) for p in outputs.values())}")
        print(f"report:    {', '.join(str(p) for p in report_paths.values())}")
        print(f"scores:    SNR {summary['snr_ref_mean_db']:.1f} dB (reference convention), "
              f"{summary['snr_chal_mean_db']:.1f} dB (Challenge convention), "
              f"Pearson {summary['pearson_mean']:.3f}, RMSE {summary['rmse_uv_mean']:.0f} uV, "
              f"|dHR| {summary['d_hr_bpm']:.1f} bpm, |dQRS| {summary['d_qrs_ms']:.0f} ms, "
              f"|dQT| {summary['d_qt_ms']:.0f} ms")
    return summary
