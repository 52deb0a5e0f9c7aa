from decimal import Decimal

from django.db import migrations, models


def _backfill(apps, schema_editor):
    """Running balances from every existing entry; each snapshot's running peak."""
    entry = apps.get_model("ledger", "LedgerEntry")
    balance = apps.get_model("ledger", "LedgerBalance")
    snapshot = apps.get_model("ledger", "EquitySnapshot")
    totals: dict[tuple[str, str], Decimal] = {}
    rows = entry.objects.order_by("ts", "id").values_list("fill__account", "asset", "amount")
    for account, asset, amount in rows.iterator(chunk_size=2000):
        key = (account, asset)
        totals[key] = totals.get(key, Decimal(0)) + amount
    balance.objects.bulk_create(
        balance(account=account, asset=asset, amount=amount)
        for (account, asset), amount in sorted(totals.items())
    )
    peaks: dict[str, Decimal] = {}
    changed = []
    for row in snapshot.objects.order_by("account", "ts").iterator(chunk_size=2000):
        peak = peaks.get(row.account)
        peak = row.equity if peak is None or row.equity > peak else peak
        peaks[row.account] = peak
        row.peak = peak
        changed.append(row)
        if len(changed) >= 2000:
            snapshot.objects.bulk_update(changed, ["peak"])
            changed = []
    snapshot.objects.bulk_update(changed, ["peak"])


class Migration(migrations.Migration):
    dependencies = [
        ("ledger", "0002_exact_amounts"),
    ]

    operations = [
        migrations.AddField(
            model_name="equitysnapshot",
            name="peak",
            field=models.DecimalField(
                decimal_places=20, default=0, help_text="running equity peak, quote", max_digits=40
            ),
        ),
        migrations.CreateModel(
            name="LedgerBalance",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("account", models.CharField(max_length=64)),
                ("asset", models.CharField(help_text="upper-case asset code", max_length=16)),
                (
                    "amount",
                    models.DecimalField(
                        decimal_places=20,
                        default=0,
                        help_text="signed units of asset",
                        max_digits=40,
                    ),
                ),
                ("updated_at", models.DateTimeField(auto_now=True)),
            ],
            options={
                "ordering": ["account", "asset"],
                "constraints": [
                    models.UniqueConstraint(
                        fields=("account", "asset"), name="uniq_ledger_balance_account_asset"
                    )
                ],
            },
        ),
        migrations.RunPython(_backfill, migrations.RunPython.noop),
    ]
