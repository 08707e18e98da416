"""A seeded, deterministic 12-lead ECG simulator.

The simulator lets the package (its demos, tests and default pipeline) run
without any downloaded data. It models the heart as a single time-varying
electrical dipole (a vectorcardiogram) and projects it onto lead vectors.

Model
-----
Coordinates are those of the patient: ``x`` points to the patient's left,
``y`` to the feet (inferior) and ``z`` forward (anterior). Frontal-plane
angles follow the hexaxial convention of electrocardiography (0 deg is
lead I, +90 deg is aVF, positive angles turn towards the feet).

Each beat is a sum of smooth bumps of the dipole, one per wave::

    P_ra, P_la   right- and left-atrial halves of the P wave
    Q            septal depolarisation (rightward, anterior)
    R            main ventricular depolarisation (along the QRS axis)
    S            terminal basal depolarisation (rightward, superior, posterior)
    T            repolarisation (asymmetric: slow rise, faster fall)

Every bump has a fixed 3-D direction and a Gaussian time course (two
half-Gaussians for T), so its timing is known exactly and the beat
annotations returned by :func:`simulate_ecg_with_annotations` are exact.

Leads I and II are frontal-plane projections of the dipole, V1-V6 are
projections onto horizontal-plane lead vectors (with R-wave progression:
rS in V1, transition around V3/V4, qR in V5/V6). The other four limb leads
are derived from I and II with :func:`ecgdigitize.leads.limb_leads_from_i_ii`,
so Einthoven's and Goldberger's relations hold to machine precision.

Artefacts (baseline wander, broadband noise, powerline interference) are
generated per *electrode* (RA, LA, LL, V1-V6) and combined into leads the way
an electrocardiograph does (I = LA - RA, II = LL - RA, Vi = Vi - Wilson's
central terminal), before the remaining limb leads are derived; so the limb
relations hold with every option switched on.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields

import numpy as np

from .errors import OptionError
from .leads import STANDARD_LEADS, limb_leads_from_i_ii
from .record import EcgRecord

__all__ = [
    "SimulatorParams",
    "random_params",
    "simulate_ecg",
    "simulate_ecg_with_annotations",
]

# Lead vectors of the directly simulated leads (unit: mV of lead per mV of dipole).
_DEG = math.pi / 180.0
_LEAD_I = np.array([1.0, 0.0, 0.0])
_LEAD_II = np.array([math.cos(60 * _DEG), math.sin(60 * _DEG), 0.0])
# Precordial leads: angle in the horizontal plane from +x (left) towards +z
# (anterior), an inferior component and a gain (the chest electrodes are close
# to the heart, so they record larger amplitudes than the limb leads).
_PRECORDIAL_ANGLE_DEG = np.array([120.0, 92.0, 60.0, 32.0, 10.0, -10.0])
_PRECORDIAL_INFERIOR = np.array([0.0, 0.05, 0.12, 0.20, 0.28, 0.32])
_PRECORDIAL_GAIN = np.array([1.8, 2.4, 2.4, 2.0, 1.6, 1.3])

# Wave directions: (frontal angle in deg, anterior elevation in deg, amplitude
# relative to p_amplitude_mv / qrs_amplitude_mv). P angles are absolute, QRS
# angles are relative to the QRS axis.
_P_WAVES: dict[str, tuple[float, float, float]] = {
    "pra": (70.0, 35.0, 0.8),  # right atrium: inferior, anterior
    "pla": (40.0, -35.0, 0.8),  # left atrium: leftward, posterior
}
_QRS_WAVES: dict[str, tuple[float, float, float]] = {
    "q": (165.0, 40.0, 0.2),  # septum: rightward, anterior
    "r": (0.0, -16.0, 1.0),  # free walls: along the axis, slightly posterior
    "s": (190.0, -60.0, 0.33),  # base: rightward, superior, posterior
}
_T_ANTERIOR_DEG = 25.0

# Wave boundaries, in Gaussian widths (sigma) from the centre of a bump.
_QRS_BOUND_SIGMAS = 2.5  # QRS onset/offset: 2.5 sigma before Q / after S centre
_P_BOUND_SIGMAS = 2.5  # P onset/end: same for the atrial bumps
_T_END_SIGMAS = 2.0  # T end by the tangent rule: peak + 2 sigma of the falling half
_WINDOW_SIGMAS = 6.0  # bumps are evaluated within +-6 sigma (exp(-18) ~ 1.5e-8)

# Valid range of each SimulatorParams field.
_PARAM_RANGES: dict[str, tuple[float, float]] = {
    "heart_rate_bpm": (20.0, 300.0),
    "hrv_std_s": (0.0, 0.5),
    "rsa_fraction": (0.0, 0.5),
    "respiration_hz": (0.05, 1.0),
    "qrs_axis_deg": (-180.0, 180.0),
    "precordial_rotation_deg": (-45.0, 45.0),
    "pr_interval_s": (0.08, 0.4),
    "qrs_duration_s": (0.05, 0.2),
    "qtc_s": (0.3, 0.6),
    "p_amplitude_mv": (0.0, 2.0),
    "qrs_amplitude_mv": (0.0, 10.0),
    "t_amplitude_mv": (0.0, 5.0),
    "amplitude_scale": (0.0, 10.0),
    "morphology_jitter": (0.0, 0.5),
    "baseline_wander_mv": (0.0, 100.0),
    "noise_mv": (0.0, 100.0),
    "powerline_hz": (1.0, 1000.0),
    "powerline_mv": (0.0, 100.0),
}

_ANNOTATION_KEYS = (
    "p_onset_s",
    "p_end_s",
    "qrs_onset_s",
    "r_peak_s",
    "qrs_offset_s",
    "t_peak_s",
    "t_end_s",
)


def _check_range(name: str, value: object, low: float, high: float) -> float:
    """Return `value` as a float, raising OptionError if it is outside [low, high]."""
    if isinstance(value, bool):
        raise OptionError(f"{name} must be a number, got {value!r}")
    try:
        v = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise OptionError(f"{name} must be a number, got {value!r}") from None
    if not (math.isfinite(v) and low <= v <= high):
        raise OptionError(f"{name} must be in [{low:g}, {high:g}], got {value!r}")
    return v


@dataclass(frozen=True)
class SimulatorParams:
    """Physiological and recording parameters of :func:`simulate_ecg`.

    All values are validated on construction; an invalid value raises
    :class:`~ecgdigitize.errors.OptionError`.

    Parameters
    ----------
    heart_rate_bpm : float
        Mean heart rate in beats per minute, 20-300 bpm.
    hrv_std_s : float
        Standard deviation of the random beat-to-beat RR variation in s.
    rsa_fraction : float
        Respiratory sinus arrhythmia: peak RR modulation as a fraction of the
        mean RR interval (0.03 means +-3 %), 0-0.5.
    respiration_hz : float
        Respiratory frequency in Hz (drives the sinus arrhythmia), 0.05-1 Hz.
    qrs_axis_deg : float
        Frontal-plane electrical axis of the QRS complex in deg (hexaxial
        convention: 0 deg = lead I, +90 deg = aVF), -180 to 180 deg.
    precordial_rotation_deg : float
        Rotation of the heart about its vertical axis as seen by the chest
        leads, in deg; positive (counter-clockwise seen from below) moves the
        R/S transition towards V1-V2, negative towards V5-V6. -45 to 45 deg.
    pr_interval_s : float
        PR interval (P onset to QRS onset) in s, 0.08-0.4 s.
    qrs_duration_s : float
        QRS duration (onset to offset) in s, 0.05-0.2 s.
    qtc_s : float
        Rate-corrected QT interval in s. The QT of a beat is
        ``qtc_s * rr_s ** (1/3)`` (Fridericia's form of Bazett's rate
        correction, with `rr_s` the preceding RR interval in s). 0.3-0.6 s.
    p_amplitude_mv : float
        Peak dipole magnitude of each atrial half of the P wave in mV
        (lead II shows a P wave of roughly this height), 0-2 mV.
    qrs_amplitude_mv : float
        Peak dipole magnitude of the R wave in mV (a lead aligned with the QRS
        axis shows an R wave of roughly this height), 0-10 mV.
    t_amplitude_mv : float
        Peak dipole magnitude of the T wave in mV, 0-5 mV.
    amplitude_scale : float
        Overall factor applied to the cardiac signal (body habitus), 0-10.
    morphology_jitter : float
        Relative standard deviation of the beat-to-beat amplitude variation of
        each wave, 0-0.5.
    baseline_wander_mv : float
        Amplitude of the baseline wander in mV: each lead receives wander with
        an RMS of about ``baseline_wander_mv / sqrt(2)`` (that of a sinusoid
        of this amplitude), made of sinusoids below 0.5 Hz.
    noise_mv : float
        Standard deviation of the white Gaussian noise in lead I in mV (the
        other leads receive noise of similar size, correlated as electrode
        noise is).
    powerline_hz : float or None
        Mains frequency in Hz (typically 50 or 60); None for no interference.
        Interference at or above the Nyquist frequency is left out, as an
        anti-aliasing filter would remove it.
    powerline_mv : float
        Approximate amplitude in mV of the powerline interference in a lead
        (used only when `powerline_hz` is set).
    """

    heart_rate_bpm: float = 72.0
    hrv_std_s: float = 0.02
    rsa_fraction: float = 0.03
    respiration_hz: float = 0.25
    qrs_axis_deg: float = 60.0
    precordial_rotation_deg: float = 0.0
    pr_interval_s: float = 0.16
    qrs_duration_s: float = 0.09
    qtc_s: float = 0.40
    p_amplitude_mv: float = 0.15
    qrs_amplitude_mv: float = 1.3
    t_amplitude_mv: float = 0.35
    amplitude_scale: float = 1.0
    morphology_jitter: float = 0.03
    baseline_wander_mv: float = 0.0
    noise_mv: float = 0.0
    powerline_hz: float | None = None
    powerline_mv: float = 0.05

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name == "powerline_hz" and value is None:
                continue
            low, high = _PARAM_RANGES[f.name]
            object.__setattr__(self, f.name, _check_range(f.name, value, low, high))


def random_params(rng: np.random.Generator, artifacts: bool = True) -> SimulatorParams:
    """Draw a realistic, varied set of simulator parameters.

    Parameters
    ----------
    rng : numpy.random.Generator
        Source of randomness.
    artifacts : bool
        If True, also draw mild baseline wander, noise and (in 30 % of draws)
        50 or 60 Hz powerline interference; if False the recording is clean.

    Returns
    -------
    SimulatorParams
        Heart rate 45-130 bpm, QRS axis -30 to +100 deg, PR 0.12-0.20 s,
        QRS 0.08-0.10 s, QTc 0.38-0.44 s, and amplitudes within normal limits.
    """
    hr = float(rng.uniform(45.0, 130.0))
    # PR shortens a little as the rate rises.
    pr = float(np.clip(rng.uniform(0.13, 0.20) - 0.0004 * (hr - 72.0), 0.12, 0.20))
    powerline_hz = None
    wander = noise = 0.0
    if artifacts:
        wander = float(rng.uniform(0.0, 0.3))
        noise = float(rng.uniform(0.0, 0.02))
        if rng.random() < 0.3:
            powerline_hz = float(rng.choice([50.0, 60.0]))
    return SimulatorParams(
        heart_rate_bpm=hr,
        hrv_std_s=float(rng.uniform(0.005, 0.04)),
        rsa_fraction=float(rng.uniform(0.0, 0.05)),
        respiration_hz=float(rng.uniform(0.15, 0.4)),
        qrs_axis_deg=float(rng.uniform(-30.0, 100.0)),
        precordial_rotation_deg=float(rng.uniform(-15.0, 15.0)),
        pr_interval_s=pr,
        qrs_duration_s=float(rng.uniform(0.08, 0.10)),
        qtc_s=float(rng.uniform(0.38, 0.44)),
        p_amplitude_mv=float(rng.uniform(0.10, 0.20)),
        qrs_amplitude_mv=float(rng.uniform(1.0, 1.7)),
        t_amplitude_mv=float(rng.uniform(0.25, 0.5)),
        amplitude_scale=float(rng.uniform(0.8, 1.25)),
        morphology_jitter=float(rng.uniform(0.0, 0.05)),
        baseline_wander_mv=wander,
        noise_mv=noise,
        powerline_hz=powerline_hz,
        powerline_mv=float(rng.uniform(0.02, 0.1)),
    )


def _direction(frontal_deg: float | np.ndarray, anterior_deg: float) -> np.ndarray:
    """Unit vector(s) from a frontal-plane angle and an anterior elevation, in deg."""
    a = np.asarray(frontal_deg, dtype=float) * _DEG
    b = anterior_deg * _DEG
    return np.stack(
        [math.cos(b) * np.cos(a), math.cos(b) * np.sin(a), np.full_like(a, math.sin(b))],
        axis=-1,
    )


def _precordial_vectors(rotation_deg: float) -> np.ndarray:
    """Lead vectors of V1-V6, shape (6, 3)."""
    phi = (_PRECORDIAL_ANGLE_DEG - rotation_deg) * _DEG
    vec = np.stack([np.cos(phi), _PRECORDIAL_INFERIOR, np.sin(phi)], axis=1)
    return vec * _PRECORDIAL_GAIN[:, None]


def _beat_times(
    rng: np.random.Generator, p: SimulatorParams, duration_s: float
) -> tuple[np.ndarray, np.ndarray]:
    """QRS onset times (s) of all beats that touch the record, and their RR intervals (s).

    The first beat lies before t = 0 at a random phase of the cardiac cycle,
    so the record starts mid-cycle.
    """
    rr0 = 60.0 / p.heart_rate_bpm
    margin_before = 1.0 + rr0  # covers the T wave of a beat that starts before t = 0
    margin_after = p.pr_interval_s + 0.3  # covers the P wave of a beat after the end
    n = int(math.ceil((duration_s + margin_before + margin_after) / (0.5 * rr0))) + 2
    k = np.arange(n)
    psi = rng.uniform(0.0, 2.0 * math.pi)
    rsa = p.rsa_fraction * np.sin(2.0 * math.pi * p.respiration_hz * k * rr0 + psi)
    rr = rr0 * (1.0 + rsa) + p.hrv_std_s * rng.standard_normal(n)
    rr = np.clip(rr, 0.5 * rr0, 2.0 * rr0)
    first = -margin_before - rng.uniform(0.0, 1.0) * rr0
    onsets = first + np.concatenate([[0.0], np.cumsum(rr[1:])])
    keep = onsets <= duration_s + margin_after
    return onsets[keep], rr[keep]


def _beat_bumps(
    rng: np.random.Generator, p: SimulatorParams, onsets: np.ndarray, rr: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, dict[str, np.ndarray]]:
    """Wave bumps of all beats and the per-beat fiducial times.

    Returns
    -------
    centre_s, sigma_left_s, sigma_right_s : ndarray, shape (n_bumps,)
        Bump centres and the Gaussian widths before and after the centre, in s.
    vector_mv : ndarray, shape (n_bumps, 3)
        Peak dipole vector of each bump in mV.
    fiducials : dict of str to ndarray
        Per-beat fiducial times in s (keys of ``_ANNOTATION_KEYS``).
    """
    nb = onsets.size
    scale = p.amplitude_scale

    # --- atrial depolarisation: two bumps, right atrium first.
    sig_p = np.full(nb, 0.018)
    p_on = onsets - p.pr_interval_s
    c_pra = p_on + _P_BOUND_SIGMAS * sig_p
    c_pla = c_pra + 0.030
    p_end = c_pla + _P_BOUND_SIGMAS * sig_p

    # --- ventricular depolarisation.
    d = p.qrs_duration_s
    sig_q, sig_r, sig_s = 0.10 * d, 0.12 * d, 0.11 * d
    c_q = onsets + _QRS_BOUND_SIGMAS * sig_q
    c_r = onsets + 0.45 * d
    c_s = onsets + d - _QRS_BOUND_SIGMAS * sig_s
    qrs_off = onsets + d

    # --- repolarisation: QT follows the preceding RR (Fridericia).
    qt = p.qtc_s * np.cbrt(rr)
    t_end = onsets + qt
    sig_t_fall = 0.11 * qt
    sig_t_rise = 1.7 * sig_t_fall
    c_t = t_end - _T_END_SIGMAS * sig_t_fall

    # --- directions (unit vectors) of each wave.
    axis = p.qrs_axis_deg
    t_axis = float(np.clip(0.5 * axis + 20.0, 0.0, 75.0))
    dirs = {k: _direction(a, b) for k, (a, b, _) in _P_WAVES.items()}
    dirs.update({k: _direction(axis + a, b) for k, (a, b, _) in _QRS_WAVES.items()})
    dirs["t"] = _direction(t_axis, _T_ANTERIOR_DEG)
    amps = {k: rel * p.p_amplitude_mv for k, (_, _, rel) in _P_WAVES.items()}
    amps.update({k: rel * p.qrs_amplitude_mv for k, (_, _, rel) in _QRS_WAVES.items()})
    amps["t"] = p.t_amplitude_mv
    centres = {"pra": c_pra, "pla": c_pla, "q": c_q, "r": c_r, "s": c_s, "t": c_t}
    sig_l = {"pra": sig_p, "pla": sig_p, "q": sig_q, "r": sig_r, "s": sig_s, "t": sig_t_rise}
    sig_r_ = {"pra": sig_p, "pla": sig_p, "q": sig_q, "r": sig_r, "s": sig_s, "t": sig_t_fall}

    names = list(dirs)
    jitter = 1.0 + p.morphology_jitter * rng.standard_normal((len(names), nb))
    jitter = np.clip(jitter, 0.0, None)
    centre = np.concatenate([np.broadcast_to(centres[k], nb) for k in names])
    sl = np.concatenate([np.broadcast_to(sig_l[k], nb) for k in names])
    sr = np.concatenate([np.broadcast_to(sig_r_[k], nb) for k in names])
    vec = np.concatenate(
        [(scale * amps[k] * jitter[i])[:, None] * dirs[k][None, :] for i, k in enumerate(names)]
    )
    fiducials = {
        "p_onset_s": p_on,
        "p_end_s": p_end,
        "qrs_onset_s": onsets,
        "r_peak_s": c_r,
        "qrs_offset_s": qrs_off,
        "t_peak_s": c_t,
        "t_end_s": t_end,
    }
    return centre, sl, sr, vec, fiducials


def _render_dipole(
    centre_s: np.ndarray,
    sigma_left_s: np.ndarray,
    sigma_right_s: np.ndarray,
    vector_mv: np.ndarray,
    n_samples: int,
    fs: float,
) -> np.ndarray:
    """Sum the bumps into a dipole time series, shape (n_samples, 3), in mV."""
    out = np.zeros((3, n_samples))
    if centre_s.size == 0:
        return out.T
    half = int(math.ceil(_WINDOW_SIGMAS * max(sigma_left_s.max(), sigma_right_s.max()) * fs))
    offsets = np.arange(-half, half + 1)
    chunk = max(1, 2_000_000 // offsets.size)  # bound the memory of long records
    for start in range(0, centre_s.size, chunk):
        sl = slice(start, start + chunk)
        c = centre_s[sl]
        idx = np.rint(c * fs).astype(np.int64)[:, None] + offsets[None, :]
        u = idx / fs - c[:, None]
        sig = np.where(u < 0.0, sigma_left_s[sl, None], sigma_right_s[sl, None])
        g = np.exp(-0.5 * (u / sig) ** 2)
        valid = (idx >= 0) & (idx < n_samples)
        iv = idx[valid]
        for j in range(3):
            w = (g * vector_mv[sl, j][:, None])[valid]
            out[j] += np.bincount(iv, weights=w, minlength=n_samples)
    return out.T


def _electrode_artifacts(
    seeds: np.ndarray, p: SimulatorParams, n_samples: int, fs: float
) -> np.ndarray:
    """Artefact potentials of the electrodes RA, LA, LL, V1-V6, shape (n_samples, 9), in mV.

    Each artefact has its own random stream (from `seeds`), so switching one
    on or off does not change the others or the cardiac signal.
    """
    n_el = 9
    t = np.arange(n_samples) / fs
    art = np.zeros((n_samples, n_el))
    # A lead is (mostly) the difference of two electrodes with independent
    # artefacts, so each electrode carries 1/sqrt(2) of the lead amplitude.
    per_electrode = 1.0 / math.sqrt(2.0)

    if p.baseline_wander_mv > 0.0:
        rng = np.random.default_rng(seeds[0])
        n_comp = 3
        freq = rng.uniform(0.05, 0.5, (n_comp, n_el))
        phase = rng.uniform(0.0, 2.0 * math.pi, (n_comp, n_el))
        weight = rng.uniform(0.5, 1.0, (n_comp, n_el))
        weight /= np.sqrt((weight**2).sum(axis=0, keepdims=True))  # unit total power
        amp = p.baseline_wander_mv * per_electrode * weight
        for k in range(n_comp):
            art += amp[k] * np.sin(2.0 * math.pi * freq[k] * t[:, None] + phase[k])

    if p.noise_mv > 0.0:
        rng = np.random.default_rng(seeds[1])
        art += p.noise_mv * per_electrode * rng.standard_normal((n_samples, n_el))

    if p.powerline_hz is not None and p.powerline_mv > 0.0 and p.powerline_hz < fs / 2.0:
        rng = np.random.default_rng(seeds[2])
        amp = p.powerline_mv * per_electrode * rng.uniform(0.5, 1.5, n_el)
        phase = rng.uniform(0.0, 2.0 * math.pi, n_el)
        art += amp * np.sin(2.0 * math.pi * p.powerline_hz * t[:, None] + phase)
    return art


def simulate_ecg_with_annotations(
    rng: np.random.Generator,
    duration_s: float = 10.0,
    fs: float = 500.0,
    params: SimulatorParams | None = None,
    name: str = "simulated",
) -> tuple[EcgRecord, dict[str, np.ndarray]]:
    """Simulate a 12-lead ECG and return it with exact per-beat annotations.

    Parameters
    ----------
    rng : numpy.random.Generator
        Source of randomness; the same generator state gives the same output.
    duration_s : float
        Record length in s (> 0).
    fs : float
        Sampling rate in Hz (> 0).
    params : SimulatorParams, optional
        Physiological and artefact parameters; defaults to ``SimulatorParams()``.
    name : str
        Record name.

    Returns
    -------
    record : EcgRecord
        The twelve standard leads (``STANDARD_LEADS`` order) in mV; sample
        ``i`` is at time ``i / fs`` s.
    annotations : dict of str to ndarray
        One float array per fiducial point, each with one entry per beat whose
        R peak lies in ``[0, duration_s)``, all times in s from the record
        start (a value may lie outside the record for a beat at its edge):

        ``p_onset_s``, ``p_end_s``
            P-wave onset and end (2.5 sigma outside the atrial bumps).
        ``qrs_onset_s``, ``qrs_offset_s``
            QRS onset and offset (2.5 sigma outside the Q and S bumps);
            ``qrs_offset_s - qrs_onset_s == params.qrs_duration_s``.
        ``r_peak_s``
            Centre of the R-wave bump (the R peak of leads aligned with the
            QRS axis lies within a few ms of it).
        ``t_peak_s``, ``t_end_s``
            T-wave peak, and T-wave end by the tangent rule (peak plus twice
            the width of the falling half-Gaussian, where its steepest tangent
            meets the baseline); ``t_end_s - qrs_onset_s`` is the beat's QT.

    Raises
    ------
    OptionError
        If `duration_s` or `fs` is not a positive finite number, the record
        would have no samples, or `params` is not a SimulatorParams.
    """
    duration_s = _check_range("duration_s", duration_s, 0.0, math.inf)
    fs = _check_range("fs", fs, 0.0, math.inf)
    if duration_s <= 0.0 or fs <= 0.0:
        raise OptionError(f"duration_s and fs must be positive, got {duration_s}, {fs}")
    n_samples = int(round(duration_s * fs))
    if n_samples < 1:
        raise OptionError(f"a {duration_s} s record at {fs} Hz has no samples")
    if params is None:
        params = SimulatorParams()
    if not isinstance(params, SimulatorParams):
        raise OptionError(f"params must be a SimulatorParams, got {type(params).__name__}")

    seeds = rng.integers(0, 2**63 - 1, size=5)
    heart_rng = np.random.default_rng(seeds[0])
    onsets, rr = _beat_times(heart_rng, params, duration_s)
    centre, sl, sr, vec, fid = _beat_bumps(heart_rng, params, onsets, rr)
    dipole = _render_dipole(centre, sl, sr, vec, n_samples, fs)

    lead_i = dipole @ _LEAD_I
    lead_ii = dipole @ _LEAD_II
    chest = dipole @ _precordial_vectors(params.precordial_rotation_deg).T

    art = _electrode_artifacts(seeds[2:], params, n_samples, fs)
    ra, la, ll = art[:, 0], art[:, 1], art[:, 2]
    lead_i = lead_i + (la - ra)
    lead_ii = lead_ii + (ll - ra)
    chest = chest + art[:, 3:] - ((ra + la + ll) / 3.0)[:, None]

    limb = limb_leads_from_i_ii(lead_i, lead_ii)
    signals = np.column_stack([limb[k] for k in STANDARD_LEADS[:6]] + [chest])
    comment = (
        f"simulated ECG (ecgdigitize.simulator): {params.heart_rate_bpm:.1f} bpm, "
        f"QRS axis {params.qrs_axis_deg:.0f} deg"
    )
    record = EcgRecord(signals, fs, list(STANDARD_LEADS), name, [comment])

    inside = (fid["r_peak_s"] >= 0.0) & (fid["r_peak_s"] < duration_s)
    annotations = {k: np.array(fid[k][inside], dtype=float) for k in _ANNOTATION_KEYS}
    return record, annotations


def simulate_ecg(
    rng: np.random.Generator,
    duration_s: float = 10.0,
    fs: float = 500.0,
    params: SimulatorParams | None = None,
    name: str = "simulated",
) -> EcgRecord:
    """Simulate a 12-lead ECG.

    Parameters
    ----------
    rng : numpy.random.Generator
        Source of randomness; the same generator state gives the same output.
    duration_s : float
        Record length in s (> 0).
    fs : float
        Sampling rate in Hz (> 0).
    params : SimulatorParams, optional
        Physiological and artefact parameters; defaults to ``SimulatorParams()``.
    name : str
        Record name.

    Returns
    -------
    EcgRecord
        The twelve standard leads (``STANDARD_LEADS`` order) in mV. III, aVR,
        aVL and aVF are derived from I and II, so the limb-lead relations hold
        to machine precision.

    Raises
    ------
    OptionError
        If an argument is invalid (see :func:`simulate_ecg_with_annotations`).
    """
    record, _ = simulate_ecg_with_annotations(rng, duration_s, fs, params, name)
    return record
