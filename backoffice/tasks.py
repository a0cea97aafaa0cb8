"""Tasks that span apps: only ``backoffice`` may import them all (the SLA sweep, large exports)."""

from celery import shared_task


@shared_task
def sla_sweep() -> dict:
    """Every few minutes (``CELERY_BEAT_SCHEDULE["sla-sweep"]``): each sweep is idempotent on its own, and runs
    as the system (the parcel sweep's expiries are the system's transition)."""
    from refunds.services import refund_sla_sweep
    from returns.services import parcel_sweep
    from returns.services import sla_sweep as claim_sla_sweep

    return {"claims": claim_sla_sweep(), "refunds": refund_sla_sweep(), "parcels": parcel_sweep()}


@shared_task
def propose_missing_refunds() -> int:
    """Backstop (beat): refunds neither the returnless approval nor the inspection proposed, as the system."""
    from inspections.services import inspections_propose_missing_refunds
    from refunds.services import refunds_propose_returnless_missing

    return refunds_propose_returnless_missing() + inspections_propose_missing_refunds()


@shared_task
def reconcile() -> dict:
    """Heal money and state that disagree, as the system, then store what is left for a person
    (``backoffice.reconcile``)."""
    from backoffice.reconcile import attention_check, reconcile_sweep

    healed = reconcile_sweep()
    attention_check()
    return healed


@shared_task
def export_to_storage(*, model_label: str, fmt: str, query_string: str, user_id: int) -> str:
    """A large export (``backoffice/exports.py``): the list's GET parameters in, a stored file and an email out.

    A failure is recorded (a ``StoredExport`` row with the reason) and the manager emailed, then raised for
    the worker's log; it is not retried (the manager exports again).
    """
    from backoffice.exports import export_record_failure, export_write_to_storage

    try:
        return export_write_to_storage(model_label=model_label, fmt=fmt, query_string=query_string, user_id=user_id)
    except Exception as error:
        export_record_failure(model_label=model_label, fmt=fmt, user_id=user_id, error=error)
        raise


@shared_task
def delete_expired_exports() -> int:
    """Beat: stored exports past ``EXPORT_LINK_EXPIRE_SECONDS`` are deleted, files and rows."""
    from backoffice.exports import exports_delete_expired

    return exports_delete_expired()


@shared_task
def beat_heartbeat() -> None:
    """Every minute (beat): proves that beat schedules and a worker runs; read by the full health check."""
    from backoffice import health

    health.heartbeat_record(health.BEAT)


@shared_task
def summaries_sweep() -> int:
    """Every minute: the dashboard's summaries of the days that changed counted again."""
    from backoffice import summaries

    return summaries.sweep()
