"""Background tasks, run by `manage.py db_worker` from the queue in PostgreSQL."""

from django_tasks import task

from . import bulk


@task()
def advance_bulk_run(run_id):
    """One slice of a bulk decision run; it queues the next slice itself."""
    return bulk.advance(run_id)
