"""SIMULATED annotators: the shipped labels with seeded jitter, drops, class swaps and shifts.

These are not people. They exist to test and demonstrate the labeling loop (vote, agreement,
label-error search) on real frames, with every planted error recorded so the loop's findings can
be checked against the truth. Their Label Studio users are named ``SIMULATED annotator <i>``
with e-mails ``simulated-annotator-<i>@simulated.roadmark.local``.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from roadmark_pipeline.labeling.geometry import iou_matrix

LOG = logging.getLogger(__name__)

SIMULATED_DOMAIN = "simulated.roadmark.local"
XYXY = ["x1", "y1", "x2", "y2"]
PLANTED_COLUMNS = ["annotator", "frame_id", "kind", "class_id", "new_class_id", *XYXY]
PLANTED_KINDS = ("overlooked", "swapped", "badly_located")


@dataclass(frozen=True)
class SimulationConfig:
    """How the simulated annotators err.

    Attributes:
        n_annotators: How many simulated annotators.
        jitter_frac: Std of the per-edge noise as a share of the box side.
        jitter_px: Cap of that std in pixels.
        drop_rate: Chance a box is left out (overlooked).
        swap_rate: Chance a box gets another class (swapped).
        shift_rate: Chance a box is moved off its object by more than its size (badly located).
        borderline_share: Share of the smallest boxes that are borderline candidates; each
            annotator marks a candidate with probability ``borderline_rate``.
        borderline_rate: See ``borderline_share``.
        seconds_per_frame: Mean lead time of a frame without boxes.
        seconds_per_box: Lead time added per box.
        speeds: Speed factor per annotator (cycled), 1.0 = the means above.
        seed: Seed of every random draw.
    """

    n_annotators: int = 3
    jitter_frac: float = 0.03
    jitter_px: float = 2.0
    drop_rate: float = 0.05
    swap_rate: float = 0.04
    shift_rate: float = 0.03
    borderline_share: float = 0.1
    borderline_rate: float = 0.8
    seconds_per_frame: float = 15.0
    seconds_per_box: float = 4.0
    speeds: tuple[float, ...] = (1.0, 0.8, 1.3)
    seed: int = 0


@dataclass
class Simulation:
    """What the simulated annotators produced.

    Attributes:
        annotators: Their e-mails, in order.
        boxes: Their boxes (``annotator, frame_id, class_id, x1, y1, x2, y2, borderline``).
        lead_times: Seconds per frame per annotator (``annotator, frame_id, lead_time_s``).
        planted: Every planted error (``PLANTED_COLUMNS``); coordinates are the true box.
    """

    annotators: list[str]
    boxes: pd.DataFrame
    lead_times: pd.DataFrame
    planted: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=PLANTED_COLUMNS))

    def planted_frames(self, annotator: str | None = None) -> set[str]:
        """Frames holding at least one planted error (of one annotator when given)."""
        planted = self.planted
        if annotator is not None:
            planted = planted[planted["annotator"] == annotator]
        return set(planted["frame_id"])


def simulated_annotators(n: int) -> list[str]:
    """Return the e-mails of ``n`` simulated annotators.

    Args:
        n: How many.

    Returns:
        ``["simulated-annotator-1@simulated.roadmark.local", ...]``.
    """
    return [f"simulated-annotator-{i}@{SIMULATED_DOMAIN}" for i in range(1, n + 1)]


def simulated_display_name(email: str) -> tuple[str, str]:
    """First and last name shown in Label Studio for a simulated annotator."""
    number = email.split("@")[0].rsplit("-", 1)[-1]
    return "SIMULATED", f"annotator {number}"


def simulate_annotators(
    truth: pd.DataFrame,
    frames: pd.DataFrame,
    config: SimulationConfig | None = None,
    assignment: dict[str, list[str]] | None = None,
) -> Simulation:
    """Let simulated annotators label frames from the true boxes, with seeded mistakes.

    Args:
        truth: The true boxes (``frame_id, class_id, x1, y1, x2, y2``), e.g. the shipped labels.
        frames: ``frame_id, width, height`` of every frame to label (frames without true boxes
            are labelled empty).
        config: Error rates and seed (defaults when omitted).
        assignment: Frame id -> the annotators who label it (from ``overlap.assign_annotators``);
            every annotator labels every frame when omitted.

    Returns:
        The :class:`Simulation` with the planted errors.
    """
    config = config or SimulationConfig()
    rng = np.random.default_rng(config.seed)
    names = simulated_annotators(config.n_annotators)
    truth = truth.reset_index(drop=True)
    by_frame = {key: group for key, group in truth.groupby("frame_id", sort=False)}
    candidates = _borderline_candidates(truth, config.borderline_share)
    present = sorted(int(c) for c in truth["class_id"].unique())

    boxes, planted, times = [], [], []
    for frame in frames.itertuples(index=False):
        labellers = assignment.get(frame.frame_id, []) if assignment is not None else names
        true_boxes = by_frame.get(frame.frame_id, truth.iloc[0:0])
        for name in labellers:
            speed = config.speeds[names.index(name) % len(config.speeds)]
            drawn, errors = _annotate(true_boxes, frame, name, config, rng, present, candidates)
            boxes += drawn
            planted += errors
            mean = (config.seconds_per_frame + config.seconds_per_box * len(drawn)) * speed
            times.append((name, frame.frame_id, float(rng.gamma(4.0, mean / 4.0))))

    simulation = Simulation(
        annotators=names,
        boxes=pd.DataFrame(
            boxes, columns=["annotator", "frame_id", "class_id", *XYXY, "borderline"]
        ),
        lead_times=pd.DataFrame(times, columns=["annotator", "frame_id", "lead_time_s"]),
        planted=pd.DataFrame(planted, columns=PLANTED_COLUMNS),
    )
    LOG.info(
        "SIMULATED %d annotators: %d boxes on %d frames, %d planted errors %s",
        len(names),
        len(simulation.boxes),
        len(frames),
        len(simulation.planted),
        simulation.planted["kind"].value_counts().to_dict(),
    )
    return simulation


def _borderline_candidates(truth: pd.DataFrame, share: float) -> set[int]:
    """Indices of the smallest ``share`` of true boxes (faint far dashes are the hard calls)."""
    if truth.empty or share <= 0:
        return set()
    area = (truth["x2"] - truth["x1"]) * (truth["y2"] - truth["y1"])
    return set(area[area <= area.quantile(share)].index)


def _annotate(
    true_boxes: pd.DataFrame,
    frame: object,
    name: str,
    config: SimulationConfig,
    rng: np.random.Generator,
    present: Sequence[int],
    candidates: set[int],
) -> tuple[list[dict], list[dict]]:
    """One annotator's boxes for one frame, and the errors planted in them."""
    width, height = float(frame.width), float(frame.height)
    drawn, errors = [], []
    boxes = true_boxes[XYXY].to_numpy(np.float64)
    classes = true_boxes["class_id"].to_numpy(np.int64)
    for index, xyxy, true_class in zip(true_boxes.index, boxes, classes, strict=True):
        draw = rng.random(3)
        error = {"annotator": name, "frame_id": frame.frame_id, "class_id": int(true_class)}
        error.update(zip(XYXY, (float(v) for v in xyxy), strict=True))
        if draw[0] < config.drop_rate:
            errors.append({**error, "kind": "overlooked", "new_class_id": -1})
            continue

        new_class = int(true_class)
        if draw[1] < config.swap_rate and len(present) > 1:
            new_class = int(rng.choice([c for c in present if c != true_class]))
            errors.append({**error, "kind": "swapped", "new_class_id": new_class})
        if draw[2] < config.shift_rate:
            xyxy = _shifted(xyxy, width, height, rng)
            errors.append({**error, "kind": "badly_located", "new_class_id": new_class})
        else:
            xyxy = _jittered(xyxy, width, height, config, rng)

        borderline = index in candidates and rng.random() < config.borderline_rate
        drawn.append(
            {
                "annotator": name,
                "frame_id": frame.frame_id,
                "class_id": new_class,
                **dict(zip(XYXY, (float(v) for v in xyxy), strict=True)),
                "borderline": borderline,
            }
        )
    return drawn, errors


def _jittered(
    xyxy: np.ndarray,
    width: float,
    height: float,
    config: SimulationConfig,
    rng: np.random.Generator,
) -> np.ndarray:
    """Per-edge Gaussian noise proportional to the box side, capped, kept inside the image."""
    sides = np.array([xyxy[2] - xyxy[0], xyxy[3] - xyxy[1]] * 2)
    sigma = np.minimum(config.jitter_frac * sides, config.jitter_px)
    moved = xyxy + rng.normal(0.0, 1.0, 4) * sigma
    x1, x2 = np.clip(sorted((moved[0], moved[2])), 0, width)
    y1, y2 = np.clip(sorted((moved[1], moved[3])), 0, height)
    if x2 - x1 < 1 or y2 - y1 < 1:
        return xyxy
    return np.array([x1, y1, x2, y2])


def _shifted(xyxy: np.ndarray, width: float, height: float, rng: np.random.Generator) -> np.ndarray:
    """The box moved off its object: by 1.2-2 times its size, left/right or up/down."""
    w, h = xyxy[2] - xyxy[0], xyxy[3] - xyxy[1]
    horizontal = rng.random() < 0.5
    step = rng.uniform(1.2, 2.0) * (w if horizontal else h)
    for sign in (1.0, -1.0) if rng.random() < 0.5 else (-1.0, 1.0):
        delta = np.array([step, 0, step, 0] if horizontal else [0, step, 0, step]) * sign
        moved = xyxy + delta
        if moved[0] >= 0 and moved[1] >= 0 and moved[2] <= width and moved[3] <= height:
            return moved
    # no room on either side: shrink to the far half of the box's neighbourhood instead
    return np.array([xyxy[0] + w * 0.75, xyxy[1], min(xyxy[2] + w, width), xyxy[3]])


def simulated_detector(
    truth: pd.DataFrame,
    *,
    seed: int = 0,
    jitter_px: float = 1.0,
    scores: tuple[float, float] = (0.96, 0.995),
) -> pd.DataFrame:
    """SIMULATED detector predictions: the true boxes, slightly jittered, with confident scores.

    A stand-in for out-of-sample predictions when no trained model is at hand, to check that
    the label-error search ranks planted errors first. It is as good as the truth it copies, so
    it measures the search, not a model. cleanlab only raises "overlooked" and "swapped" for
    predictions above its high-probability threshold (0.95), hence the score range.

    Args:
        truth: The true boxes (``frame_id, class_id, x1, y1, x2, y2``).
        seed: Seed of the jitter and the scores.
        jitter_px: Std of the per-edge noise in pixels.
        scores: Range the scores are drawn from, uniformly.

    Returns:
        A predictions table (``frame_id, class_id, x1, y1, x2, y2, score``).
    """
    rng = np.random.default_rng(seed)
    predictions = truth[["frame_id", "class_id", *XYXY]].copy()
    predictions[XYXY] = predictions[XYXY].to_numpy(np.float64) + rng.normal(
        0.0, jitter_px, (len(predictions), 4)
    )
    predictions["score"] = rng.uniform(*scores, len(predictions))
    return predictions.reset_index(drop=True)


def recovery(consensus: pd.DataFrame, truth: pd.DataFrame, iou_threshold: float = 0.5) -> dict:
    """How well consensus boxes recover the true boxes: matched by IoU and class, per frame.

    Args:
        consensus: Consensus boxes (``frame_id, class_id, x1..y2``).
        truth: True boxes.
        iou_threshold: IoU at which a consensus box matches a true box of the same class.

    Returns:
        ``precision``, ``recall``, ``matched``, ``consensus_boxes``, ``true_boxes`` and
        ``mean_iou`` of the matches.
    """
    matched, ious = 0, []
    found_by_frame = {key: group for key, group in consensus.groupby("frame_id", sort=False)}
    for frame_id, wanted in truth.groupby("frame_id", sort=False):
        found = found_by_frame.get(frame_id)
        if found is None:
            continue
        want_xyxy, want_class = wanted[XYXY].to_numpy(np.float64), wanted["class_id"].to_numpy()
        got_xyxy, got_class = found[XYXY].to_numpy(np.float64), found["class_id"].to_numpy()
        overlap = iou_matrix(want_xyxy, got_xyxy)
        overlap[want_class[:, None] != got_class[None, :]] = 0.0
        pairs = _greedy_pairs(overlap, iou_threshold)
        matched += len(pairs)
        ious += [overlap[i, j] for i, j in pairs]
    return {
        "precision": matched / len(consensus) if len(consensus) else float("nan"),
        "recall": matched / len(truth) if len(truth) else float("nan"),
        "matched": matched,
        "consensus_boxes": len(consensus),
        "true_boxes": len(truth),
        "mean_iou": float(np.mean(ious)) if ious else float("nan"),
    }


def _greedy_pairs(overlap: np.ndarray, threshold: float) -> list[tuple[int, int]]:
    pairs, rows, cols = [], set(), set()
    for flat in np.argsort(-overlap, axis=None, kind="stable"):
        i, j = np.unravel_index(flat, overlap.shape)
        if overlap[i, j] < threshold:
            break
        if i not in rows and j not in cols:
            pairs.append((int(i), int(j)))
            rows.add(i)
            cols.add(j)
    return pairs


def precision_at_n(ranked_frames: Sequence[str], planted_frames: set[str], n: int) -> float:
    """Share of the ``n`` top-ranked frames that really hold a planted error.

    Args:
        ranked_frames: Frame ids, worst first (e.g. ``label_issues`` sorted by quality score).
        planted_frames: Frames with a planted error.
        n: How many of the top frames to check.

    Returns:
        Hits / n (NaN when ``n`` is 0).
    """
    top = list(ranked_frames)[:n]
    return sum(frame in planted_frames for frame in top) / n if n else float("nan")
