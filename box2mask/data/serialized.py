"""Dataset dicts held compactly: one byte buffer of pickled dicts, unpickled one at a time.

A registered COCO set (:func:`box2mask.data.register_box_coco`) loads into a
:class:`SerializedDicts` instead of a list of dicts: the json is converted one image at a time
and released as it goes, so loading holds about one parsed copy of the json at its peak and
the loaded set takes the size of its pickles (the buffer detectron2's ``DatasetFromList``
would build from a list). detectron2 passes a ``torch.utils.data.Dataset`` through
``get_detection_dataset_dicts`` and ``build_detection_train_loader`` unchanged, so the buffer is
the only copy a training run holds; :func:`build_train_dataset` does what
``get_detection_dataset_dicts`` does for lists (filtering images without instances, the class
histogram) on the buffer.
"""
import collections.abc
import logging
import operator
import pickle
from typing import Dict, Iterable, List, Sequence

import numpy as np
import torch.utils.data as torchdata
from detectron2.data import DatasetCatalog, MetadataCatalog
from detectron2.data.build import check_metadata_consistency, print_instances_class_histogram

__all__ = ["SerializedDicts", "SerializedDictsWriter", "build_train_dataset"]

logger = logging.getLogger(__name__)


class SerializedDicts(torchdata.Dataset, collections.abc.Sequence):
    """A read-only sequence of dataset dicts stored as pickles in one ``uint8`` array.

    Item ``i`` is ``pickle.loads(buffer[starts[i]:ends[i]])``: a fresh dict each time (changing
    it changes nothing stored). Slicing gives a list of dicts. ``num_instances[i]`` is the
    number of non-crowd annotations of item ``i`` (-1 for a dict without ``annotations``),
    known without unpickling. Data-loader workers share the buffer with the main process.
    """

    def __init__(self, buffer: np.ndarray, starts: np.ndarray, ends: np.ndarray,
                 num_instances: np.ndarray):
        if not (len(starts) == len(ends) == len(num_instances)):
            raise ValueError("starts, ends and num_instances must have the same length")
        self._buffer = buffer
        self._starts = np.asarray(starts, dtype=np.int64)
        self._ends = np.asarray(ends, dtype=np.int64)
        self.num_instances = np.asarray(num_instances, dtype=np.int64)

    @classmethod
    def from_dicts(cls, dicts: Iterable[Dict]) -> "SerializedDicts":
        """Serialise ``dicts`` (any iterable of dataset dicts)."""
        writer = SerializedDictsWriter()
        for record in dicts:
            writer.append(record)
        return writer.finish()

    @classmethod
    def concat(cls, parts: Sequence["SerializedDicts"]) -> "SerializedDicts":
        """The items of ``parts`` in order, in one new buffer (one part: that part)."""
        if len(parts) == 1:
            return parts[0]
        buffers, starts, ends, offset = [], [], [], 0
        for part in parts:
            for i in range(len(part)):  # each item's bytes, in item order
                buffers.append(part._buffer[part._starts[i]:part._ends[i]])
                starts.append(offset)
                offset += int(part._ends[i] - part._starts[i])
                ends.append(offset)
        buffer = np.concatenate(buffers) if buffers else np.zeros(0, np.uint8)
        num = np.concatenate([p.num_instances for p in parts])
        return cls(buffer, np.asarray(starts), np.asarray(ends), num)

    def subset(self, indices) -> "SerializedDicts":
        """The items at ``indices``, sharing this buffer."""
        indices = np.asarray(indices, dtype=np.int64)
        return SerializedDicts(self._buffer, self._starts[indices], self._ends[indices],
                               self.num_instances[indices])

    @property
    def nbytes(self) -> int:
        """Bytes held: the buffer and the index arrays."""
        return int(self._buffer.nbytes + self._starts.nbytes + self._ends.nbytes
                   + self.num_instances.nbytes)

    def __len__(self) -> int:
        return len(self._starts)

    def __getitem__(self, index):
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(len(self)))]
        i = operator.index(index)
        if i < 0:
            i += len(self)
        if not 0 <= i < len(self):
            raise IndexError(f"index {index} out of range for {len(self)} dataset dicts")
        return pickle.loads(memoryview(self._buffer[self._starts[i]:self._ends[i]]))

    def __iter__(self):
        for i in range(len(self)):
            yield self[i]

    def __repr__(self) -> str:
        return f"SerializedDicts({len(self)} dicts, {self.nbytes / 2**20:.2f} MiB)"


class SerializedDictsWriter:
    """Builds a :class:`SerializedDicts` one dict at a time (``append``, then ``finish``)."""

    def __init__(self):
        self._buffer = bytearray()
        self._ends: List[int] = []
        self._num_instances: List[int] = []

    def append(self, record: Dict) -> None:
        self._buffer += pickle.dumps(record, protocol=pickle.HIGHEST_PROTOCOL)
        self._ends.append(len(self._buffer))
        annotations = record.get("annotations")
        self._num_instances.append(
            -1 if annotations is None else sum(a.get("iscrowd", 0) == 0 for a in annotations)
        )

    def finish(self) -> SerializedDicts:
        ends = np.asarray(self._ends, dtype=np.int64)
        starts = np.concatenate([np.zeros(1, np.int64), ends])[: len(ends)]
        buffer = np.frombuffer(self._buffer, dtype=np.uint8)
        return SerializedDicts(buffer, starts, ends,
                               np.asarray(self._num_instances, dtype=np.int64))


def build_train_dataset(names: Sequence[str], filter_empty: bool = True) -> SerializedDicts:
    """The training sets ``names`` as one :class:`SerializedDicts`: what detectron2's
    ``get_detection_dataset_dicts`` does for lists of dicts, on the compact buffer.

    A set whose loader returns a list (registered with detectron2's own functions) is
    serialised here. ``filter_empty`` (``DATALOADER.FILTER_EMPTY_ANNOTATIONS``) leaves out
    images without a non-crowd instance; the class histogram of the result is logged.
    """
    if isinstance(names, str):
        names = [names]
    if not len(names):
        raise ValueError("no training set named (DATASETS.TRAIN is empty)")
    parts = []
    for name in names:
        dicts = DatasetCatalog.get(name)
        if not len(dicts):
            raise ValueError(f"data set '{name}' is empty")
        parts.append(dicts if isinstance(dicts, SerializedDicts)
                     else SerializedDicts.from_dicts(dicts))
        del dicts
    dataset = SerializedDicts.concat(parts)
    del parts
    if filter_empty:
        before = len(dataset)
        dataset = dataset.subset(np.flatnonzero(dataset.num_instances != 0))
        logger.info(
            f"Removed {before - len(dataset)} images with no usable annotations. "
            f"{len(dataset)} images left."
        )
    if not len(dataset):
        raise ValueError(f"no image with instances in {', '.join(names)}")
    class_names = MetadataCatalog.get(names[0]).get("thing_classes")
    if class_names is not None and (dataset.num_instances >= 0).any():
        try:
            check_metadata_consistency("thing_classes", names)
        except AttributeError:  # another set has no class names: nothing to compare
            pass
        print_instances_class_histogram(dataset, class_names)
    logger.info(f"Training data: {dataset!r}")
    return dataset
