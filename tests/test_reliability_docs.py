"""docs/reliability.md against the tests and the configs: every bad-json case of
tests/data/test_bad_files.py is in the table with the error the test expects, every test the
table names exists, and the shipped configs drop images without instances as the table says."""
import ast
from pathlib import Path

import pytest
from detectron2.config import get_cfg
from detectron2.data import get_detection_dataset_dicts

from box2mask import add_box2mask_config, register_box_coco
from box2mask.data import build_train_dataset
from data.test_bad_files import BAD_JSON

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs/reliability.md"


def _rows():
    """(case, behaviour, test) of every table row."""
    rows = []
    for line in DOC.read_text().splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 3 and cells[0] not in ("case", "---"):
            rows.append(tuple(cells))
    return rows


def test_every_bad_json_case_has_its_row():
    behaviour = {case: text for case, text, _ in _rows()}
    for case, _, message in BAD_JSON:
        assert case in behaviour, f"docs/reliability.md has no row '{case}'"
        assert message in behaviour[case], f"row '{case}' does not quote '{message}'"


def test_every_named_test_exists():
    for case, _, test in _rows():
        path, _, name = test.strip("`").partition("::")
        assert name, f"row '{case}' names no test function"
        tree = ast.parse((ROOT / path).read_text())
        names = {n.name for n in ast.walk(tree) if isinstance(n, ast.FunctionDef)}
        assert name in names, f"row '{case}': {path} has no {name}"


CONFIGS = sorted(p for p in (ROOT / "configs").rglob("*.yaml") if not p.name.startswith("Base-"))


@pytest.mark.parametrize("config", CONFIGS, ids=[str(p.relative_to(ROOT)) for p in CONFIGS])
def test_images_without_instances_follow_the_configs(config):
    row = next(b for c, b, _ in _rows() if c == "image without instances")
    assert "FILTER_EMPTY_ANNOTATIONS True` (every shipped config)" in row
    cfg = get_cfg()
    add_box2mask_config(cfg)
    cfg.merge_from_file(str(config))
    assert cfg.DATALOADER.FILTER_EMPTY_ANNOTATIONS, config


def test_filter_empty_annotations_drops_images_without_instances(coco_set):
    json_path, image_dir = coco_set
    register_box_coco("t_docs_empty", json_path, image_dir)
    for filter_empty, images in ((True, 2), (False, 3)):  # image 3 has no instance
        dicts = build_train_dataset(["t_docs_empty"], filter_empty=filter_empty)  # the Trainer's
        assert len(dicts) == images
    # evaluation (detectron2's test loader) keeps it
    assert len(get_detection_dataset_dicts(["t_docs_empty"], filter_empty=False)) == 3
