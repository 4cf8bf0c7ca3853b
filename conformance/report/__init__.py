"""Reports: the JSON model (`model`), its files (`writers`: JSON, Markdown, JUnit XML, HTML),
the terminal summary, baselines of known failures, and `compare` for side-by-side matrices."""
