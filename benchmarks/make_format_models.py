"""Write the model files that benchmarks/all_formats.yaml loads (formats the run cannot train).

    python benchmarks/make_format_models.py

Trains on exactly the train split the suite uses (same data section, same seed), so the
quality figures of these files are honest test-set figures:
  models/cancer_logreg.skops   scikit-learn pipeline, skops (no code runs on load)
  models/cancer_mlp.pt         PyTorch MLP as TorchScript (torch.jit.save)
  models/cancer_mlp.pt2        the same MLP as a torch.export program (torch.export.save)
The MLP standardises its input itself (constants from the train split), so it takes the
raw feature matrix like every other candidate. Needs the `torch` and `skops` extras.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
SUITE = HERE / "all_formats.yaml"
OUT = HERE / "models"


def train_split():
    from benchharness.config import load_suite
    from benchharness.data.stage import build_dataset

    ds = build_dataset(load_suite(SUITE).data)
    return ds.X_train.to_numpy(dtype=np.float32), ds.y_train.to_numpy()


def write_skops(X, y, path: Path) -> None:
    import skops.io as sio
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000)).fit(X, y)
    sio.dump(model, path)


def write_torch(X, y, pt: Path, pt2: Path, epochs: int = 300, seed: int = 0) -> None:
    import torch

    torch.manual_seed(seed)
    n_classes = int(y.max()) + 1
    mean, std = X.mean(axis=0), X.std(axis=0) + 1e-6

    class MLP(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.register_buffer("mean", torch.from_numpy(mean))
            self.register_buffer("std", torch.from_numpy(std))
            self.net = torch.nn.Sequential(
                torch.nn.Linear(X.shape[1], 32), torch.nn.ReLU(), torch.nn.Linear(32, n_classes)
            )

        def forward(self, x):
            return self.net((x - self.mean) / self.std)  # logits; the adapter applies softmax

    model = MLP()
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    xt, yt = torch.from_numpy(np.array(X)), torch.from_numpy(y.astype(np.int64))
    for _ in range(epochs):
        opt.zero_grad()
        loss = torch.nn.functional.cross_entropy(model(xt), yt)
        loss.backward()
        opt.step()
    model.eval()
    # TorchScript keeps no input shapes: the adapter reads the width from the first 2-D
    # parameter, so the Linear layer's weight must come before any other 2-D tensor
    torch.jit.save(torch.jit.script(model), str(pt))
    batch = torch.export.Dim("batch")
    program = torch.export.export(model, (xt[:4],), dynamic_shapes={"x": {0: batch}})
    torch.export.save(program, str(pt2))
    print(f"MLP train accuracy {(model(xt).argmax(1) == yt).float().mean():.3f} after {epochs} epochs")


def main() -> None:
    OUT.mkdir(exist_ok=True)
    X, y = train_split()
    write_skops(X, y, OUT / "cancer_logreg.skops")
    write_torch(X, y, OUT / "cancer_mlp.pt", OUT / "cancer_mlp.pt2")
    for p in sorted(OUT.iterdir()):
        print(f"wrote {p.relative_to(HERE)} ({p.stat().st_size} bytes)")


if __name__ == "__main__":
    main()
