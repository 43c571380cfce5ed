"""`soci-ci startup`: record what a container reads before it is ready, and what SOCI fetches.

The recording (fanotify on the filesystem holding the Docker engine's layer store, every event
checked against the container's own rootfs inodes) is in ``recorder.py``; the Docker engine
edge in ``engine.py``; the mapping from files to layers, zTOC spans and compressed bytes is
pure (``rootfs.py``, ``fetch.py``), as are the estimate, the prefetch artifact and the
suggested layer order. ``measure.py`` ties them together for the CLI and ``soci-ci run``.
"""
