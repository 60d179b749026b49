"""The nightly pipeline's stages, one per file. Each is a callable class mapping a Ray Data
batch to a batch (``pipelines.nightly.rows.RowStage``); the model-holding ones load their models
once, in ``__init__``, so one actor loads them once for its whole life."""
