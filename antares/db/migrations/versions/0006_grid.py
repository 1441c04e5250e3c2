"""grid: the pixel grid of a segmentation's label rasters (antares.segmentation.grid), so that db_to_raster snaps to
it without asking the ODC index

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-03
"""
import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade() -> None:
    # NULL for the segmentations stored before: db_to_raster then reads the grid from the ODC index, as before
    op.add_column('segmentation', sa.Column('grid', postgresql.JSONB(astext_type=sa.Text()), nullable=True),
                  schema='antares')


def downgrade() -> None:
    op.drop_column('segmentation', 'grid', schema='antares')
