from django.db import migrations, models


def copy_attributes(apps, schema_editor):
    """Keep the ground truth of a world loaded before the split, when ``Video`` still held it."""
    Video = apps.get_model("mediarec", "Video")
    VideoTruth = apps.get_model("mediarec_lab", "VideoTruth")
    rows = Video.objects.filter(attributes__has_key="world_index").values_list("pk", "attributes")
    VideoTruth.objects.bulk_create(
        (VideoTruth(video_id=pk, world_index=a["world_index"], attributes=a) for pk, a in rows.iterator()),
        batch_size=2000,
    )


class Migration(migrations.Migration):
    initial = True
    dependencies = [("mediarec", "0002_video_embedding_half_hnsw")]
    # The attributes are copied before the plugin drops its column.
    run_before = [("mediarec", "0003_remove_video_attributes")]

    operations = [
        migrations.CreateModel(
            name="VideoTruth",
            fields=[
                (
                    "video",
                    models.OneToOneField(
                        on_delete=models.deletion.CASCADE,
                        primary_key=True,
                        related_name="truth",
                        serialize=False,
                        to="mediarec.video",
                    ),
                ),
                ("world_index", models.PositiveIntegerField(unique=True)),
                ("attributes", models.JSONField()),
            ],
        ),
        migrations.RunPython(copy_attributes, migrations.RunPython.noop),
    ]
