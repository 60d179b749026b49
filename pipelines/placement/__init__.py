"""Where the nightly's actors go: planned from the nodes the cluster has now *and* the
nodes its autoscaler may add, checked to fit before anything starts, and reserved in an
order that cannot strand an actor.

- ``discover_cluster`` reads the nodes up now (``ray.nodes()``) and the kinds of node the
  autoscaler may add, from the first of: ``resources.node_types``; ``RESTYLE_NODE_TYPES``
  (a JSON list, set on the head node by the KubeRay manifests); the cluster config an
  autoscaler reported to Ray's GCS; the cluster launcher's ``~/ray_bootstrap_config.yaml``
  on the head node (``RESTYLE_AUTOSCALER_CONFIG`` names another file).
- ``sizing.plan_placement`` (pure) sizes the actor pools: with GPUs, one transfer and one
  segmentation actor sharing each GPU (3/4 and 1/4) and a check actor beside them, each
  with its share of its node's CPUs; without GPUs, about one single-threaded fused actor
  per core. ``pack`` checks that every actor, plus a read task, fits the nodes the cluster can
  have; when it cannot, ``ConfigError`` (exit 2) says what to change.
- ``check_fit`` is the same check for any set of bundles, now and at the cluster's
  largest; training (``pipelines.training.runner.fit_to_cluster``) and serve
  (``pipelines.serve.config.fit_to_cluster``) use it before they start.
- ``reserve`` asks the autoscaler for the actors' bundles (``request_resources``) when the
  nodes up now are not enough, then reserves GPU stages in placement groups, one stage
  after another (transfer before segmentation), and waits until they are placed.
  Ray Data's actor pools then start inside those groups, so an actor can never be left
  pending because another stage's actors took its GPU share first.

Modules: ``resources`` (the config), ``cluster`` (discovery), ``fit`` (the one fit
check), ``sizing`` (actor pools), ``reserve`` (autoscaler request, placement groups).
"""
