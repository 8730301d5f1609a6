"""Generated development sets beside the demo set: microscopy-style, textured, copy-paste of
real cut-outs, and the real photos they come from (see ``box2mask.data.builtin``)."""
