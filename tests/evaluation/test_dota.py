"""DOTA Task 1: the devkit's 11-point AP, oriented mAP with difficult objects, patch merging
and the submission files, on hand-computed cases."""
import cv2
import numpy as np
import pycocotools.mask as mask_util
import pytest

from box2mask.data.testbeds.dota import parse_dota_labels
from box2mask.evaluation.dota import (
    dota_oriented_map,
    merge_patch_results,
    voc07_ap,
    write_task1,
)


def square(cx, cy, side, degrees=0.0):
    return cv2.boxPoints(((cx, cy), (side, side), degrees)).astype(np.float64)


def obj(polygon, name, difficult=0):
    return {"polygon": polygon, "name": name, "difficult": difficult}


def test_voc07_ap_hand_computed():
    # recall 0.5 at precision 1, then recall 1 at precision 0.5: 6 of the 11 points
    # (t = 0 … 0.5) see precision 1, 5 (t = 0.6 … 1) see 0.5
    assert voc07_ap(np.array([0.5, 1.0]), np.array([1.0, 0.5])) == pytest.approx(8.5 / 11)
    assert voc07_ap(np.array([0.25]), np.array([1.0])) == pytest.approx(3 / 11)
    assert voc07_ap(np.zeros(0), np.zeros(0)) == 0.0


GROUND_TRUTH = {
    "P0001": [obj(square(50, 50, 20), "plane"), obj(square(150, 50, 20), "plane", difficult=1)],
    "P0002": [obj(square(100, 100, 40), "ship")],
    "P0003": [],
}


def test_oriented_map_difficult_and_rotation():
    detections = {
        "plane": [("P0001", 0.95, square(150, 50, 20)),  # on the difficult plane: ignored
                  ("P0001", 0.9, square(50, 50, 20)),  # true positive
                  ("P0001", 0.7, square(50, 50, 20)),  # duplicate: false positive
                  ("P0003", 0.6, square(50, 50, 20))],  # no plane there: false positive
        "ship": [("P0002", 0.8, square(100, 100, 40, 45))],  # IoU 1/√2 with the ship
        "bridge": [("P0002", 0.5, square(10, 10, 5))],  # a class without ground truth
    }
    result = dota_oriented_map(detections, GROUND_TRUTH, ["plane", "ship", "bridge"])
    # plane: one non-difficult object found first → precision 1 at recall 1; counting the
    # difficult match as a false positive would give precision 1/2 there (AP 50)
    assert result == {"mAP": pytest.approx(100), "AP-plane": pytest.approx(100),
                      "AP-ship": pytest.approx(100)}
    strict = dota_oriented_map(detections, GROUND_TRUTH, ["plane", "ship"], iou_threshold=0.75)
    assert strict["AP-ship"] == 0.0 and strict["mAP"] == pytest.approx(50)
    # one of two ships found, at the first rank: 6 of 11 points at precision 1
    two_ships = {**GROUND_TRUTH, "P0003": [obj(square(300, 300, 30), "ship")]}
    assert dota_oriented_map(detections, two_ships, ["ship"])["AP-ship"] == pytest.approx(
        100 * 6 / 11)
    nothing = dota_oriented_map({}, GROUND_TRUTH, ["plane", "ship"])
    assert nothing == {"mAP": 0.0, "AP-plane": 0.0, "AP-ship": 0.0}


def rle(box, size=64):
    mask = np.zeros((size, size), np.uint8)
    x0, y0, x1, y1 = box
    mask[y0:y1, x0:x1] = 1
    return mask_util.encode(np.asfortranarray(mask))


def test_merge_patches_and_task1_files(tmp_path):
    # two overlapping patches of P0001 (x0 = 0 and x0 = 32) see the same plane at full-image
    # x 40..56, y 10..20; the lower-scored copy goes; a ship in the second patch stays
    patches = {1: ("P0001", 0, 0), 2: ("P0001", 32, 0), 3: ("P0002", 0, 0)}
    names = {1: "plane", 7: "ship"}
    results = [
        {"image_id": 1, "category_id": 1, "score": 0.9, "segmentation": rle((40, 10, 56, 20))},
        {"image_id": 2, "category_id": 1, "score": 0.8, "segmentation": rle((8, 10, 24, 20))},
        {"image_id": 2, "category_id": 7, "score": 0.7, "segmentation": rle((8, 10, 24, 20))},
        {"image_id": 3, "category_id": 1, "score": 0.6, "segmentation": rle((0, 0, 4, 4))},
        {"image_id": 3, "category_id": 1, "score": 0.5, "segmentation": rle((0, 0, 0, 0))},
    ]
    merged = merge_patch_results(results, patches, names)
    assert [(i, s) for i, s, _ in merged["plane"]] == [("P0001", 0.9), ("P0002", 0.6)]
    assert [(i, s) for i, s, _ in merged["ship"]] == [("P0001", 0.7)]
    ship = merged["ship"][0][2]
    assert ship.min(0) == pytest.approx([40, 10]) and ship.max(0) == pytest.approx([56, 20])
    with pytest.raises(ValueError, match="image_id 9"):
        merge_patch_results([{**results[0], "image_id": 9}], patches, names)

    paths = write_task1(tmp_path / "task1", merged, ["plane", "ship", "bridge"])
    assert [p.name for p in paths] == ["Task1_plane.txt", "Task1_ship.txt", "Task1_bridge.txt"]
    lines = (tmp_path / "task1/Task1_ship.txt").read_text().splitlines()
    assert len(lines) == 1
    fields = lines[0].split()
    assert fields[:2] == ["P0001", "0.700000"] and len(fields) == 10
    corners = np.array(fields[2:], float).reshape(4, 2)
    assert sorted(map(tuple, corners)) == [(40, 10), (40, 20), (56, 10), (56, 20)]
    assert (tmp_path / "task1/Task1_bridge.txt").read_text() == ""


def test_parse_labels_with_headers(tmp_path):
    path = tmp_path / "P0001.txt"
    path.write_text("imagesource:GoogleEarth\ngsd:0.146343590398\n"
                    "10 10 30 10 30 20 10 20 plane 0\n"
                    "40.5 40 60 40 60 50 40.5 50 small-vehicle 1\n")
    objects = parse_dota_labels(path)
    assert [(o["name"], o["difficult"]) for o in objects] == [("plane", 0),
                                                              ("small-vehicle", 1)]
    assert objects[1]["polygon"][0].tolist() == [40.5, 40]
    path.write_text("imagesource:GoogleEarth\ngsd:null\n10 10 30 10 30 20 10 20 tank 0\n")
    with pytest.raises(ValueError, match=r"P0001\.txt:3: unknown class 'tank'"):
        parse_dota_labels(path)
    path.write_text("10 10 30 10 30 20 plane 0\n")
    with pytest.raises(ValueError, match=r"P0001\.txt:1: expected"):
        parse_dota_labels(path)
