"""bounce event ids: a provider's webhook retries are recorded once

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-22

"""
from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = '0003'
down_revision: str | None = '0002'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('bounces', schema=None) as batch_op:
        batch_op.add_column(sa.Column('event_id', sa.String(length=200), nullable=True))
        batch_op.create_index(batch_op.f('ix_bounces_source_event_id'), ['source', 'event_id'], unique=True)


def downgrade() -> None:
    with op.batch_alter_table('bounces', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_bounces_source_event_id'))
        batch_op.drop_column('event_id')
