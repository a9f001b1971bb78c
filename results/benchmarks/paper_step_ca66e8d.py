"""Paper-profile 2M-NER (stand-in random weights of the real shapes) through the real fit():
2 epochs x 2 steps at batch 16, frozen deterministic ResNet, feature cache on disk; epoch 1 cold,
epoch 2 warm. Prints train seconds per step per epoch, peak RSS and the checkpoint files' sizes."""
import json, resource, sys, tempfile, time
from pathlib import Path
import torch
torch.set_num_threads(1)
from baselines.layers.text_encoder import EXTRA_SPECIAL_TOKENS
from benchmark.api import BuildContext
from benchmark.corpora.builtin import generate_fallback
from benchmark.corpora.images import ImageStore
from benchmark.registry import get_model, load_factory
from benchmark.run.train import fit, seed_everything
from models.two_m_ner.profile import MBERT_VOCAB, _random_paper_hp

model_name = sys.argv[2] if len(sys.argv) > 2 else "2m-ner"
spec = get_model(model_name)
over = {"resnet_trainable": False, "resnet_bn": "frozen", "resnet_random_crop": False, "resnet_random_eval": False,
        "epochs": 2, "num_workers": 0, "batch_size": 16, "eval_batch_size": 16}
hp = _random_paper_hp({**spec.hparams("paper", over), "seed": 1})
out = {"model": model_name, "overrides": over}
with tempfile.TemporaryDirectory(prefix="paperstep-", dir=None) as tmp:
    tmp = Path(tmp)
    corpus = generate_fallback(tmp / "corpus", sizes=(32, 2, 2), seed=0, languages=("en",), image_size=224)
    train, dev, test = corpus.load(["en"], "train"), corpus.load(["en"], "dev"), corpus.load(["en"], "test")
    seed_everything(1)
    ctx = BuildContext(device=torch.device("cpu"), profile="paper", images=ImageStore(corpus.image_dir),
                       cache_dir=tmp / "features", log=print)
    t0 = time.perf_counter()
    model = load_factory(spec).from_training_data(hp, train, ctx)
    model.text.resize_token_embeddings(MBERT_VOCAB + len(EXTRA_SPECIAL_TOKENS), mean_resizing=False)
    out["build_s"] = time.perf_counter() - t0
    out["parameters"] = sum(p.numel() for p in model.parameters())
    out["trainable"] = sum(p.numel() for p in model.parameters() if p.requires_grad)
    work = tmp / "work"; work.mkdir()
    res = fit(model, hp, train, dev, test, 1, work, log=print)
    out["epoch_train_s"] = [h["train_time_s"] for h in res["history"]]
    out["step_s"] = [t / 2 for t in out["epoch_train_s"]]
    out["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    out["checkpoint_files_bytes"] = {p.name: p.stat().st_size for p in work.iterdir() if p.suffix == ".pt"}
    out["run_notes"] = getattr(model, "run_notes", None)
print(json.dumps(out, indent=1, default=str))
json.dump(out, open(sys.argv[1], "w"), indent=1, default=str)
