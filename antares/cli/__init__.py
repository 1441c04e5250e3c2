"""The ``antares`` command line (click). Commands are thin: parse, call the pipeline, print."""
