"""The nightly catalogue restyle: its config (runconfig), plan, rows, stages, manifest,
report, run record (record), verification and the driver that builds, executes and
finalises a run (run). `preview` runs the same stages in-process for `restyle apply`."""
