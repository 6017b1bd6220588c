from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ("accessbridge", "0001_worker_start"),
    ]

    operations = [
        migrations.CreateModel(
            name="RateSlot",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("key", models.CharField(max_length=100, unique=True)),
                ("next_at_us", models.BigIntegerField(default=0)),
            ],
        ),
    ]
