from django.db import migrations, models

# Every statement that writes claims bumps one counter, so the queue can cache its per-status
# counts until the claims change (claims/queries.py). A statement-level trigger costs one
# row update per statement, not per claim, and sees writes from every code path.
CREATE_COUNTER = """
CREATE TABLE claims_change_counter (id smallint PRIMARY KEY, changes bigint NOT NULL);
INSERT INTO claims_change_counter VALUES (1, 0);
CREATE FUNCTION claims_count_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE claims_change_counter SET changes = changes + 1 WHERE id = 1;
    RETURN NULL;
END $$;
CREATE TRIGGER claims_claim_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE
    ON claims_claim FOR EACH STATEMENT EXECUTE FUNCTION claims_count_change();
"""

DROP_COUNTER = """
DROP TRIGGER claims_claim_changed ON claims_claim;
DROP FUNCTION claims_count_change();
DROP TABLE claims_change_counter;
"""


class Migration(migrations.Migration):
    dependencies = [("claims", "0006_claim_search_split")]

    operations = [
        migrations.AddIndex(
            model_name="claim",
            index=models.Index(fields=["type", "status"], name="claim_type_status"),
        ),
        migrations.RunSQL(CREATE_COUNTER, DROP_COUNTER),
    ]
