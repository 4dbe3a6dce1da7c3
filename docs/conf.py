"""Sphinx configuration of caudal's user guide (Markdown pages through MyST)."""

project = "caudal"
author = "the caudal developers"
copyright = "2026, the caudal developers"

extensions = ["myst_parser", "sphinxarg.ext"]
source_suffix = {".md": "markdown"}
myst_enable_extensions = ["colon_fence"]
myst_heading_anchors = 3
exclude_patterns = ["_build", "scaling/**/*.md"]
html_theme = "alabaster"
html_static_path: list[str] = []
suppress_warnings = ["myst.xref_missing"]
