"""Analysis of trained runs; each module is a script run from the repository root as
``python -m tools.<name>``."""
