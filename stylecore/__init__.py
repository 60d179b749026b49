"""stylecore: the pure library (segmentation, transfer, quality checks, training losses).

Importing it sets ``OMP_WAIT_POLICY=PASSIVE`` unless the environment already sets a policy,
so it must come before torch's first import (``jobs`` and ``pipelines`` import it first).
torch's OpenMP threads otherwise spin for a while after every parallel region, and on a
2-core worker they take the cores from the OpenCV and NumPy work between the network calls
(segmentation, synthesis, the gate's checks): the whole default path at 1024 px took 0.59 s
per photo spinning and 0.48 s passive, while Johnson et al.'s network alone, pure torch,
took 1.47 and 1.50 s (``bench/bench_speed.py`` measures both policies).
"""

import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
