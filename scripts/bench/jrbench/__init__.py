"""`make bench`, as a package: one module per section under sections/, and what
they share (config, daemon, client, pg, report). scripts/bench/run.py runs it."""
