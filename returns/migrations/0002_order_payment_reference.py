from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("returns", "0001_initial")]

    operations = [
        migrations.AddField(
            model_name="order",
            name="payment_reference",
            field=models.CharField(blank=True, max_length=128),
        ),
    ]
