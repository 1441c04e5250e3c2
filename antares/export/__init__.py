"""Exports of antares results for other tools: QGIS layer styles (QML) and styled GeoPackages."""
