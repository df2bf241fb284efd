"""public lists (with a uuid for public URLs) and archived campaigns

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-05

"""
from __future__ import annotations

import uuid
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = '0005'
down_revision: str | None = '0004'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('lists', schema=None) as batch_op:
        batch_op.add_column(sa.Column('uuid', sa.Uuid(), nullable=True))
        batch_op.add_column(
            sa.Column('public', sa.Boolean(), server_default=sa.false(), nullable=False)
        )
    # Existing lists get a random uuid each, then the column becomes required and unique.
    lists = sa.table('lists', sa.column('id', sa.Integer()), sa.column('uuid', sa.Uuid()))
    bind = op.get_bind()
    for (list_id,) in bind.execute(sa.select(lists.c.id)).all():
        bind.execute(lists.update().where(lists.c.id == list_id).values(uuid=uuid.uuid4()))
    with op.batch_alter_table('lists', schema=None) as batch_op:
        batch_op.alter_column('uuid', existing_type=sa.Uuid(), nullable=False)
        batch_op.create_unique_constraint(batch_op.f('uq_lists_uuid'), ['uuid'])
    with op.batch_alter_table('campaigns', schema=None) as batch_op:
        batch_op.add_column(
            sa.Column('archive', sa.Boolean(), server_default=sa.false(), nullable=False)
        )


def downgrade() -> None:
    with op.batch_alter_table('campaigns', schema=None) as batch_op:
        batch_op.drop_column('archive')
    with op.batch_alter_table('lists', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('uq_lists_uuid'), type_='unique')
        batch_op.drop_column('public')
        batch_op.drop_column('uuid')
