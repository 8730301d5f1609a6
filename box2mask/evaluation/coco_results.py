"""The part that the evaluators of COCO-format results share: collect each image's predictions
as COCO results with the json's category ids, gather them over the processes, write them."""
import itertools
import json
import os
from typing import List, Optional, Sequence

from detectron2.data import MetadataCatalog
from detectron2.evaluation import DatasetEvaluator
from detectron2.evaluation.coco_evaluation import instances_to_coco_json
from detectron2.utils import comm
from detectron2.utils.file_io import PathManager

__all__ = ["COCOResultsEvaluator", "gather_on_main"]


def gather_on_main(items: list, distributed: bool) -> Optional[list]:
    """``items`` of every process chained on the main process (None on the others); ``items``
    itself when not ``distributed``."""
    if not distributed:
        return items
    gathered = comm.gather(items, dst=0)
    return list(itertools.chain(*gathered)) if comm.is_main_process() else None


class COCOResultsEvaluator(DatasetEvaluator):
    """Collects COCO results (``instances_to_coco_json``) of a registered COCO-json set, at most
    ``max_detections`` per image by score when set. A subclass sets ``self._category_ids``
    (contiguous id → json id) and implements ``_evaluate(results)``, which runs on the main
    process with the results of all."""

    max_detections: Optional[int] = None

    def __init__(self, dataset_name: str, distributed: bool = True,
                 output_dir: Optional[str] = None):
        self._json_file = PathManager.get_local_path(
            MetadataCatalog.get(dataset_name).json_file)
        self._category_ids: Sequence[int] = ()
        self._distributed = distributed
        self._output_dir = output_dir
        self._results: List[dict] = []

    def reset(self):
        self._results = []

    def process(self, inputs, outputs):
        for inp, out in zip(inputs, outputs):
            instances = out["instances"].to("cpu")
            if self.max_detections is not None:
                instances = instances[instances.scores.argsort(descending=True)
                                      [:self.max_detections]]
            for r in instances_to_coco_json(instances, inp["image_id"]):
                r["category_id"] = self._category_ids[r["category_id"]]
                self._results.append(r)

    def evaluate(self):
        results = gather_on_main(self._results, self._distributed)
        return {} if results is None else self._evaluate(results)

    def _evaluate(self, results: List[dict]) -> dict:
        raise NotImplementedError

    def _write_results(self, file_name: str, results: List[dict]) -> None:
        """``results`` as ``output_dir/file_name`` (nothing without an ``output_dir``)."""
        if self._output_dir:
            PathManager.mkdirs(self._output_dir)
            with PathManager.open(os.path.join(self._output_dir, file_name), "w") as f:
                json.dump(results, f)
