from django.db import migrations


class Migration(migrations.Migration):
    """Synthetic ground truth moves to the lab (``mediarec_lab.VideoTruth``)."""

    dependencies = [("mediarec", "0002_video_embedding_half_hnsw")]

    operations = [migrations.RemoveField(model_name="video", name="attributes")]
