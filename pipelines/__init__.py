"""pipelines."""

import stylecore  # noqa: F401  (first: it sets the OpenMP wait policy before torch loads)
