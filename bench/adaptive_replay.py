"""What an adaptive section costs a delivery request (service/delivery/adaptive.py).

Delivery stores no path: every resume and every save of an adaptive item replays the section from
the saved answers, one `next_item` decision per item answered plus one for the current item. This
prints the time of one replay at path lengths 5, 10, 20 and 40 on a 300-item 2PL bank
(a ~ logNormal(0, 0.3), b ~ N(0, 1)) over 4 indicators with a blueprint of 0.25 each and
randomesque 5; responses drawn from the model at θ = 0.5. The category of an answer is given
directly (scoring one single-choice answer is microseconds). One process, one core.

    ./dev python bench/adaptive_replay.py [--bank 300] [--repeat 20] [--seed 7]
"""

from __future__ import annotations

import argparse
import os
import time
from datetime import UTC, datetime

import msgspec
import numpy as np

from service.delivery import adaptive
from service.items.views import Answer
from service.psychometrics.adaptive import CatBank, CatSettings
from service.psychometrics.model import ItemParameters


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bank", type=int, default=300)
    parser.add_argument("--repeat", type=int, default=20)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    rng = np.random.default_rng(args.seed)
    items = [
        ItemParameters(
            item_id=f"i{j}",
            model="2PL",
            discrimination=float(np.exp(rng.normal(0, 0.3))),
            thresholds=(float(rng.normal()),),
        )
        for j in range(args.bank)
    ]
    parameters = {item.item_id: item for item in items}
    indicators = {item.item_id: f"X.{j % 4}" for j, item in enumerate(items)}
    correct = {
        code: bool(rng.random() < 1 / (1 + np.exp(-p.discrimination * (0.5 - p.thresholds[0]))))
        for code, p in parameters.items()
    }
    adaptive.category = lambda section, code, answer: int(correct[code])  # type: ignore[assignment]
    answer = msgspec.convert({"choice": "c"}, Answer)
    print(
        f"bench/adaptive_replay.py, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, load average "
        f"{os.getloadavg()[0]:.2f}, bank {args.bank}, seed {args.seed}"
    )
    for length in (5, 10, 20, 40):
        section = adaptive.Prepared(
            code="s",
            position=0,
            bank=CatBank(items, indicators),
            blueprint={f"X.{k}": 0.25 for k in range(4)},
            settings=CatSettings(min_items=length, max_items=length, target_se=0.01, randomesque=5),
            floors={},
            items={},
        )
        answers: dict[str, Answer] = {}
        while (path := adaptive.replay(section, args.seed, answers)).current is not None:
            answers[path.current] = answer
        started = time.perf_counter()
        for _ in range(args.repeat):
            adaptive.replay(section, args.seed, answers)
        per = (time.perf_counter() - started) / args.repeat
        print(
            f"  {length:3d} items answered: replay {per * 1000:6.1f} ms ({per / (length + 1) * 1000:.2f} ms a decision)"
        )


if __name__ == "__main__":
    main()
