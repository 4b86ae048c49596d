from django.db import migrations, models

# Audit events are append-only in the database itself, whatever code or person connects.
# TRUNCATE is refused too, unless the session says `SET claimdesk.allow_audit_truncate = on`:
# the test-suite's flush between transactional tests needs it, and a person who types that
# has decided to lose the audit, which no trigger can prevent the table's owner from doing.
APPEND_ONLY = """
CREATE FUNCTION claims_audit_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'TRUNCATE'
       AND current_setting('claimdesk.allow_audit_truncate', true) = 'on' THEN
        RETURN NULL;
    END IF;
    RAISE EXCEPTION 'audit events are append-only: % on % refused', TG_OP, TG_TABLE_NAME
        USING ERRCODE = 'restrict_violation';
END $$;
CREATE TRIGGER claims_auditevent_append_only BEFORE UPDATE OR DELETE ON claims_auditevent
    FOR EACH ROW EXECUTE FUNCTION claims_audit_refuse_change();
CREATE TRIGGER claims_auditevent_no_truncate BEFORE TRUNCATE ON claims_auditevent
    FOR EACH STATEMENT EXECUTE FUNCTION claims_audit_refuse_change();
"""

DROP_APPEND_ONLY = """
DROP TRIGGER claims_auditevent_no_truncate ON claims_auditevent;
DROP TRIGGER claims_auditevent_append_only ON claims_auditevent;
DROP FUNCTION claims_audit_refuse_change();
"""


def chain_existing_events(apps, schema_editor):
    """Events written before the chain existed get their hashes, in id order."""
    from claims import audit

    AuditEvent = apps.get_model("claims", "AuditEvent")
    rows = AuditEvent.objects.order_by("id").values_list("id", *audit.CHAINED_FIELDS)
    previous, batch = audit.GENESIS, []
    for event_id, *fields in rows.iterator(chunk_size=2000):
        previous = audit.chain_hash(previous, dict(zip(audit.CHAINED_FIELDS, fields)))
        batch.append(AuditEvent(id=event_id, hash=previous))
        if len(batch) == 2000:
            AuditEvent.objects.bulk_update(batch, ["hash"])
            batch = []
    AuditEvent.objects.bulk_update(batch, ["hash"])


class Migration(migrations.Migration):
    dependencies = [("claims", "0007_queue_counts")]

    operations = [
        migrations.AddField(
            model_name="auditevent",
            name="hash",
            field=models.CharField(default="", editable=False, max_length=64),
            preserve_default=False,
        ),
        migrations.RunPython(chain_existing_events, migrations.RunPython.noop),
        migrations.RunSQL(APPEND_ONLY, DROP_APPEND_ONLY),
        migrations.RemoveIndex(model_name="auditevent", name="audit_actor_at"),
        migrations.RemoveIndex(model_name="auditevent", name="audit_claim_at"),
        migrations.RemoveIndex(model_name="auditevent", name="audit_action_at"),
        migrations.AlterField(
            model_name="auditevent", name="at", field=models.DateTimeField()
        ),
        migrations.AddIndex(
            model_name="auditevent",
            index=models.Index(fields=["at", "id"], name="audit_at_id"),
        ),
        migrations.AddIndex(
            model_name="auditevent",
            index=models.Index(fields=["actor", "at", "id"], name="audit_actor_at_id"),
        ),
        migrations.AddIndex(
            model_name="auditevent",
            index=models.Index(fields=["claim", "at", "id"], name="audit_claim_at_id"),
        ),
        migrations.AddIndex(
            model_name="auditevent",
            index=models.Index(fields=["action", "at", "id"], name="audit_action_at_id"),
        ),
    ]
