"""``manage.py bench_pipeline``: videos/s through the embedding pipeline, end to
end, with what each stage could do on its own.

    render N world videos (not timed)
      ↓
    end to end: embedding_run_batch per batch = claim (DB) → decode ∥ model → write (DB)
      ↓
    each stage alone: decode (worker processes), model (pre-decoded clips), DB (claim + write)

It runs in a throwaway database (created and dropped here) and a temporary
media folder, so neither the catalog nor a running worker is touched.
"""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path

import numpy as np
from django.core.management.base import BaseCommand, CommandError
from django.db import connection
from django.test.utils import override_settings


class PipelineBenchmark(BaseCommand):
    help = "Benchmark the embedding pipeline: videos/s end to end, and decode / model / DB alone."

    def add_arguments(self, parser):
        parser.add_argument("--videos", type=int, default=64)
        parser.add_argument("--batch-size", type=int, default=16)
        parser.add_argument("--decode-workers", type=int, default=2)
        parser.add_argument("--device", default="cpu", help="cpu or cuda")
        parser.add_argument("--preset", default="tiny", help="engine preset of the random-init model")
        parser.add_argument("--checkpoint", default="", help="a checkpoint to use instead of a random-init model")
        parser.add_argument("--max-seconds", type=float, default=10.0, help="cap on each rendered video's length")
        parser.add_argument("--seed", type=int, default=0)

    def handle(self, *args, **opts):
        if opts["device"].startswith("cuda"):
            import torch

            if not torch.cuda.is_available():
                raise CommandError("--device cuda: CUDA is not available on this machine")
        with tempfile.TemporaryDirectory(prefix="mediarec-bench-") as tmp:
            tmp = Path(tmp)
            records = self.render(opts, tmp / "media")
            checkpoint = Path(opts["checkpoint"]) if opts["checkpoint"] else self.random_checkpoint(opts, records, tmp)
            test_name = f"bench_{connection.settings_dict['NAME']}_{os.getpid()}"
            connection.settings_dict.setdefault("TEST", {})["NAME"] = test_name
            old_name = connection.creation.create_test_db(verbosity=0, autoclobber=True, serialize=False)
            try:
                with override_settings(
                    MEDIA_ROOT=str(tmp / "media"),
                    MEDIAREC_EMBED_BATCH_SIZE=opts["batch_size"],
                    MEDIAREC_EMBED_DECODE_WORKERS=opts["decode_workers"],
                    MEDIAREC_EMBED_DEVICE=opts["device"],
                ):
                    self.run_all(opts, records, checkpoint)
            finally:
                connection.creation.destroy_test_db(old_name, verbosity=0)

    def render(self, opts, media: Path) -> list[dict]:
        from lab.synthetic.catalog import sample_catalog
        from lab.synthetic.render import render_catalog

        specs, _ = sample_catalog(opts["videos"], days=30, rng=np.random.default_rng(opts["seed"]), seed=opts["seed"])
        for spec in specs:
            spec.duration_s = min(spec.duration_s, opts["max_seconds"])
        started = time.perf_counter()
        rendered = list(render_catalog(specs, media / "videos", seed=opts["seed"]))
        seconds = sum(r.spec.duration_s for r in rendered)
        self.stdout.write(
            f"rendered {len(rendered)} videos ({seconds:.0f} s of video) in {time.perf_counter() - started:.1f} s (not timed below)"
        )
        return [
            {"path": str(r.path), "text": f"{r.spec.title} . {r.spec.description}", "title": r.spec.title}
            for r in rendered
        ]

    def random_checkpoint(self, opts, records: list[dict], tmp: Path) -> Path:
        """A random-init model of ``--preset``: throughput does not depend on training."""
        import torch

        from videobert_engine.checkpoint import save_checkpoint
        from videobert_engine.config import preset
        from videobert_engine.joint import VideoBert
        from videobert_engine.text import WordPiece

        torch.manual_seed(opts["seed"])
        config = preset(opts["preset"])
        tokenizer = WordPiece.for_config(config.text, [r["text"] for r in records])
        config.text.vocab_size = tokenizer.vocab_size
        path = tmp / "random.pt"
        save_checkpoint(path, VideoBert(config), tokenizer)
        return path

    def run_all(self, opts, records: list[dict], checkpoint: Path) -> None:
        import torch

        from mediarec.models import ModelVersion, Video, VideoStatus
        from mediarec.services.embedding import embedding_run_batch
        from mediarec.services.model_versions import model_version_embedder
        from videobert_engine.data import clip_loader

        media = Path(records[0]["path"]).parents[1]
        version = ModelVersion.objects.create(
            name="bench", checkpoint_path=str(checkpoint), embedding_dim=0, is_active=True
        )
        embedder = model_version_embedder(version=version)
        version.embedding_dim = embedder.embedding_dim
        version.metrics = {"engine_version": embedder.version}
        version.save()
        videos = Video.objects.bulk_create(
            Video(title=r["title"], description=r["text"], file=str(Path(r["path"]).relative_to(media)))
            for r in records
        )
        ids = [v.pk for v in videos]
        size = opts["batch_size"]
        n = len(ids)

        # warm-up: one batch (first CUDA kernels, the decoder's first fork), then reset
        Video.objects.update(status=VideoStatus.QUEUED)
        embedding_run_batch(video_ids=ids[:size], window_s=0)
        Video.objects.update(status=VideoStatus.QUEUED, embedding=None, embedding_version="", attempts=0)

        claim = embed = write = 0.0
        started = time.perf_counter()
        for i in range(0, n, size):
            result = embedding_run_batch(video_ids=ids[i : i + size], window_s=0)
            claim, embed, write = claim + result.claim_s, embed + result.embed_s, write + result.write_s
        total = time.perf_counter() - started
        ready = Video.objects.filter(status=VideoStatus.READY).count()
        failed = Video.objects.filter(status=VideoStatus.FAILED).count()

        # each stage alone
        t = time.perf_counter()
        batches = list(
            clip_loader(records, embedder.config.clips, size, opts["decode_workers"], sample=embedder.sampler())
        )
        decode_alone = time.perf_counter() - t
        device = embedder.device
        t = time.perf_counter()
        with torch.inference_mode():
            for batch in batches:
                texts = [records[int(i)]["text"] for i in batch.index]
                ids_, mask = embedder.tokenizer.encode(texts, embedder.config.text.max_len)
                with torch.autocast(device.type, dtype=torch.bfloat16, enabled=device.type == "cuda"):
                    embedder.model.embed(
                        batch.clips.to(device), batch.has_video.to(device), ids_.to(device), mask.to(device)
                    )
            if device.type == "cuda":
                torch.cuda.synchronize()
        model_alone = time.perf_counter() - t

        self.stdout.write(
            f"preset {embedder.config.name} ({embedder.version}), device {device}, batch {size}, "
            f"decode workers {opts['decode_workers']}, {n} videos: {ready} ready, {failed} failed"
        )
        rows = [
            ("end to end", total, "claim + decode ∥ model + write, per batch"),
            ("  claim (DB)", claim, "inside end to end"),
            ("  decode ∥ model", embed, "inside end to end; the engine overlaps the two"),
            ("  write (DB)", write, "inside end to end"),
            ("decode alone", decode_alone, f"{opts['decode_workers']} worker processes"),
            ("model alone", model_alone, "pre-decoded clips"),
            ("DB alone", claim + write, "claim + write"),
        ]
        self.stdout.write(f"{'stage':18} {'seconds':>8} {'videos/s':>9}")
        for name, seconds, note in rows:
            self.stdout.write(f"{name:18} {seconds:8.2f} {n / max(seconds, 1e-9):9.1f}  {note}")
