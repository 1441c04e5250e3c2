"""Database access: the embedded cluster, engines, schema, migrations and repositories.

Only ``antares.pipeline`` and the CLI's thin commands call into this package.
"""
