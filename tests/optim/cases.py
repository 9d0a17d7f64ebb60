"""The one table of optimizer cases that drives the parity, fused and property tests.

Each case is (registry name, our hyperparameters). ``to_torch`` translates our names to the
keyword arguments of the torch.optim class of the same rule.
"""

from __future__ import annotations

from typing import Any

CASES: list[tuple[str, dict[str, Any]]] = [
    ("sgd", {}),
    ("sgd", {"learning_rate": 0.05, "weight_decay": 0.1, "maximize": True}),
    ("momentum", {}),
    ("momentum", {"momentum": 0.8, "dampening": 0.3, "weight_decay": 0.01}),
    ("momentum", {"momentum": 0.9, "nesterov": True}),
    ("momentum", {"nesterov": True, "maximize": True, "weight_decay": 0.05}),
    ("adam", {"learning_rate": 0.01}),
    ("adam", {"learning_rate": 0.01, "amsgrad": True, "weight_decay": 0.1}),
    ("adam", {"beta1": 0.5, "beta2": 0.9, "epsilon": 1e-3, "maximize": True}),
    ("adamw", {"learning_rate": 0.01}),
    ("adamw", {"learning_rate": 0.01, "amsgrad": True, "weight_decay": 0.3, "maximize": True}),
    ("nadam", {}),
    ("nadam", {"weight_decay": 0.1, "momentum_decay": 0.01}),
    ("nadam", {"weight_decay": 0.1, "decoupled_weight_decay": True, "maximize": True}),
    ("radam", {"learning_rate": 0.01}),
    ("radam", {"weight_decay": 0.1, "beta2": 0.99}),
    ("radam", {"weight_decay": 0.1, "decoupled_weight_decay": True, "maximize": True}),
    ("rmsprop", {}),
    ("rmsprop", {"centered": True, "weight_decay": 0.1}),
    ("rmsprop", {"momentum": 0.9, "alpha": 0.9}),
    ("rmsprop", {"momentum": 0.5, "centered": True, "maximize": True}),
    ("adagrad", {}),
    ("adagrad", {"lr_decay": 0.1, "initial_accumulator_value": 0.5, "weight_decay": 0.1}),
    ("adagrad", {"maximize": True, "epsilon": 1e-3}),
    ("adadelta", {}),
    ("adadelta", {"rho": 0.5, "weight_decay": 0.1, "learning_rate": 0.5, "maximize": True}),
    ("adamax", {}),
    ("adamax", {"beta1": 0.7, "weight_decay": 0.1, "maximize": True}),
    ("lion", {}),
    ("lion", {"learning_rate": 0.01, "weight_decay": 0.0, "beta1": 0.8, "maximize": True}),
]

TORCH_CLASS = {
    "sgd": "SGD", "momentum": "SGD", "adam": "Adam", "adamw": "AdamW", "nadam": "NAdam",
    "radam": "RAdam", "rmsprop": "RMSprop", "adagrad": "Adagrad", "adadelta": "Adadelta",
    "adamax": "Adamax",
}

_RENAME = {"learning_rate": "lr", "epsilon": "eps"}


def to_torch(hp: dict[str, Any]) -> dict[str, Any]:
    """Our full hyperparameter dict -> torch.optim keyword arguments."""
    out: dict[str, Any] = {}
    for k, v in hp.items():
        if k in ("beta1", "beta2"):
            continue
        out[_RENAME.get(k, k)] = v
    if "beta1" in hp:
        out["betas"] = (hp["beta1"], hp["beta2"])
    return out


def case_id(case: tuple[str, dict[str, Any]]) -> str:
    name, hp = case
    return name + ("-" + "-".join(f"{k}={v}" for k, v in hp.items()) if hp else "")
