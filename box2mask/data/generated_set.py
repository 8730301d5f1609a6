"""A generated data set on disk, written again only when its generator's parameters change.

``meta.json`` records the parameters and is written last: a directory whose ``meta.json``
matches them and holds every expected path is complete and is not rewritten; an interrupted
or outdated one is written again.
"""
import json
import logging
from pathlib import Path
from typing import Callable, Dict, Sequence

__all__ = ["expected_paths", "generate_cached"]


def expected_paths(out_dir, expected: Sequence[str]) -> Dict[str, str]:
    """The paths of the keys ``expected`` in ``out_dir``: ``<split>_images`` is the folder
    ``<split>``, ``<name>_json`` the file ``<name>.json``."""
    out = Path(out_dir)
    paths = {}
    for key in expected:
        if key.endswith("_images"):
            paths[key] = out / key[: -len("_images")]
        elif key.endswith("_json"):
            paths[key] = out / f"{key[: -len('_json')]}.json"
        else:
            raise KeyError(f"unknown path key {key!r}")
    return {k: str(v) for k, v in paths.items()}


def generate_cached(
    out_dir, meta: dict, write: Callable[[Path], Dict[str, str]], expected: Sequence[str]
) -> Dict[str, str]:
    """Run ``write(out_dir)`` unless ``out_dir`` already holds a complete set with ``meta``.

    Args:
        out_dir: the data set's directory (created if missing).
        meta: the generator's parameters (json-serialisable; its "generator" names the set in
            the log), stored as ``meta.json``.
        write: writes every split into the directory and returns their paths.
        expected: the keys ``write`` returns, e.g. ("train_json", "train_images", ...), laid
            out as :func:`expected_paths` says.

    Returns:
        The paths as str, plus "meta".
    """
    out = Path(out_dir)
    meta_file = out / "meta.json"
    if meta_file.is_file() and json.loads(meta_file.read_text()) == meta:
        paths = expected_paths(out, expected)
        if all(Path(p).exists() for p in paths.values()):
            return {**paths, "meta": str(meta_file)}
    logging.getLogger(__name__).info(f"writing the {meta.get('generator', 'data')} set to {out}")
    out.mkdir(parents=True, exist_ok=True)
    meta_file.unlink(missing_ok=True)
    paths = write(out)
    if sorted(paths) != sorted(expected):
        raise RuntimeError(f"the writer returned {sorted(paths)}, expected {sorted(expected)}")
    meta_file.write_text(json.dumps(meta, indent=1, sort_keys=True) + "\n")
    return {**paths, "meta": str(meta_file)}
