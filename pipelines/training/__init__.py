"""Data-parallel training of the style GAN on Ray Train: the same ``StyleGANTrainer`` step,
its four networks wrapped by ``ray.train.torch.prepare_model`` (DDP: NCCL on GPU, gloo on
CPU), each worker training on its own shard of the catalogue.

- **Data.** The catalogue's photos are read from object storage and decoded by Ray Data.
  Each rank has its own dataset of a fixed part of them (``RankedImages``: sorted image
  ids, every ``world``-th one), so a rank always trains on the same photos in the same
  order, whatever Ray's scheduling: a restarted worker replays exactly the batches it
  would have drawn (Ray Data's streaming split hands out blocks to whichever worker asks
  first, which made restarts replay other photos). Each worker draws random crops from
  its photos. Every worker loads the (few) style references itself. Streams are
  seeded ``seed + 1000 * rank``, so workers see different crops.
- **Batch and learning rate.** The global batch is ``batch_size x workers``. Every loss is
  a mean over images, so this is the same as one worker with the global batch (tested).
  Adam's learning rates scale by ``lr_scaling``: ``sqrt`` (default) multiplies them by
  sqrt(workers), ``linear`` by workers, ``none`` keeps them.
- **Checkpoints.** Every ``checkpoint_every`` steps (and at the end) rank 0 reports the
  full trainer state, plus every rank's data-stream state, through
  ``ray.train.report(..., checkpoint=...)`` to the run's storage path (local or s3://).
  After a worker or node failure Ray Train restarts the workers (``max_failures``) and
  each resumes from the latest checkpoint: same step, same data position.
- **Metrics.** Every step rank 0 writes the losses and images/s per worker as TensorBoard
  events (``<models>/<name>/tensorboard/``) and logs a progress line every ``log_every``;
  each checkpoint reports every loss averaged over the steps since the last one.
- **Export.** At the end rank 0 exports the model to ``<models>/<name>/<version>/`` with
  its card (``pipelines.style_export``), ready for ``restyle nightly``.

Modules: ``config`` (DistConfig, worker resources, sizes, each training command's config),
``runner`` (the cluster fit check, ``on_cluster``, ``run_fit``), ``watchdog`` (no-progress
watchdog), ``shards`` (each rank's photos on Ray Data), ``checkpoints`` (restore, report,
fault hook, TensorBoard), ``worker`` (the one per-worker loop, ``run_worker``, over a small
``WorkerJob`` protocol), and one ``*_job`` module per training job (style GAN, add-style,
U-Net: each a ``WorkerJob``, and the command's Ray-side driving), imported only by the
``jobs/`` entry points. ``local`` and ``segmenter_local`` train the style GAN and the U-Net
in this process, without Ray.
"""
