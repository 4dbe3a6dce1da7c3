"""Sphinx configuration of caudal's user guide (Markdown pages through MyST)."""

project = "caudal"
author = "the caudal developers"
copyright = "2026, the caudal developers"

extensions = ["myst_parser", "sphinxarg.ext", "sphinx.ext.autodoc"]
source_suffix = {".md": "markdown"}
myst_enable_extensions = ["colon_fence"]
myst_heading_anchors = 3
exclude_patterns = ["_build", "scaling/**/*.md"]
html_theme = "alabaster"
html_static_path = ["_static"]
html_css_files = ["caudal.css"]
# "--output" stays two hyphens: smartquotes would turn "--" into an en dash in the CLI reference
smartquotes = False
autodoc_member_order = "bysource"
autodoc_typehints = "description"
suppress_warnings = ["myst.xref_missing"]
