"""The Open Data Cube side of antares: the only package that imports ``datacube``."""
