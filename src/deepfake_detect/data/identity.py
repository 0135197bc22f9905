"""Who and where a clip comes from: the people a FaceForensics++ clip shows (its name says), the
dataset of a clip, and the split groups that keep every clip of one person on one side.

A leak-free split must keep a person's face out of two splits. DFDC names a FAKE's ``original``
(its group); FF++ names both people of a swap (``<Method>_<target>_<source>``), and the source's face
is in the fake, so every clip naming either person joins one group."""

from __future__ import annotations

import re
from pathlib import Path

FFPP_METHODS = ("Deepfakes", "Face2Face", "FaceSwap", "FaceShifter", "NeuralTextures", "DeepFakeDetection")


_FFPP_NAME = re.compile(
    r"^(?:(?P<method>" + "|".join(FFPP_METHODS) + r")_|ffpp_|youtube_|actors_)(?P<a>\d+)(?:_(?P<b>\d+))?(?:__|\.|$)"
)


def ffpp_people(video: str) -> tuple[str, ...]:
    """The people a FaceForensics++ clip shows, from its name (empty for other names).

    ``youtube_033`` / ``ffpp_033``: person yt033; ``actors_22__scene``: actor22; a swap
    ``<Method>_<target>_<source>`` (or ``ffpp_<target>_<source>``) shows both its target and the
    source whose face was pasted in; Google's ``DeepFakeDetection_<t>_<s>__scene__id`` names actors."""
    m = _FFPP_NAME.match(Path(video).name)
    if not m:
        return ()
    actors = video.startswith(("actors_", "DeepFakeDetection_"))
    prefix = "actor" if actors else "yt"
    return tuple(f"{prefix}{int(x):03d}" for x in (m["a"], m["b"]) if x is not None)


def dataset_of(video: str, record: dict | None = None) -> str:
    """The dataset a clip comes from: its metadata's ``dataset`` (``ffpp_c23`` counts as ``ffpp``),
    else ``ffpp`` for a FaceForensics++ name, else ``dfdc`` (the DFDC layout's own data)."""
    named = str((record or {}).get("dataset") or "").strip().lower()
    if named:
        return "ffpp" if named.startswith("ffpp") else named
    return "ffpp" if ffpp_people(video) else "dfdc"


def identity_groups(videos: list[str], groups: list[str]) -> list[str]:
    """Each row's split group: its ``group`` joined with every group that shares a person with it.

    A FaceForensics++ swap ``<target>_<source>`` shows two people: the target's clip is its group,
    and the source's face is pasted in, so every clip naming either person must stay on one side
    of a split (across sources too). The group kept is the smallest member name, so data without
    such names keeps its groups unchanged."""
    parent: dict[str, str] = {}

    def find(k: str) -> str:
        while parent.setdefault(k, k) != k:
            parent[k] = parent[parent[k]]
            k = parent[k]
        return k

    for video, group in zip(videos, groups, strict=True):
        keys = [f"group:{group}", *(f"person:{p}" for p in (*ffpp_people(video), *ffpp_people(group)))]
        for k in keys[1:]:
            a, b = find(keys[0]), find(k)
            if a != b:
                parent[max(a, b)] = min(a, b)
    best: dict[str, str] = {}
    for group in groups:
        root = find(f"group:{group}")
        best[root] = min(best.get(root, group), group)
    return [best[find(f"group:{g}")] for g in groups]
