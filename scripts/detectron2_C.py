"""Stand-in for detectron2's compiled ``_C`` module (installed by scripts/install_detectron2.sh).

PyPI's ``pb1-detectron2`` sdist lacks detectron2's C++ sources, so it is built without
extension modules. This module answers the version queries detectron2 makes on import
and in ``collect_env``, and names every compiled op it lacks with a clear error when called.
Box2Mask needs none of them.
"""

_MISSING = (
    "detectron2 was installed without its compiled ops (the PyPI sdist has no C++ sources), "
    "so `{}` is unavailable. Box2Mask does not need it; to use it, build detectron2 from source "
    "and re-run the set-up, which keeps an importable detectron2."
)


def get_compiler_version():
    return "none (detectron2 installed without compiled ops)"


def get_cuda_version():
    return "none"


def has_cuda():
    return False


def _missing_op(name):
    def op(*args, **kwargs):
        raise NotImplementedError(_MISSING.format(name))

    op.__name__ = name
    return op


for _name in (
    "deform_conv_forward",
    "deform_conv_backward_input",
    "deform_conv_backward_filter",
    "modulated_deform_conv_forward",
    "modulated_deform_conv_backward",
    "roi_align_rotated_forward",
    "roi_align_rotated_backward",
    "box_iou_rotated",
    "nms_rotated",
    "InstanceAnnotation",
    "COCOevalEvaluateImages",
    "COCOevalAccumulate",
):
    globals()[_name] = _missing_op(_name)
del _name
