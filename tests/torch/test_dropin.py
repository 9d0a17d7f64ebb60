"""optarena.torch as a drop-in for torch.optim: each class built with torch's own constructor calls.

The configurations follow torch's own optimizer tests (torch/testing/_internal/common_optimizers.py,
``optim_inputs_func_*`` and ``optim_error_inputs_func_*`` for the CPU, torch 2.13), extended so
that every keyword of every constructor is set to a non-default value at least once
(``test_every_keyword_is_exercised``). Each one is written once, as torch's tests are, and run
for every class: same parameters, state and param groups as torch.optim's for-loop over steps on
a small float64 model, and the same exception types for what torch rejects.
"""

from __future__ import annotations

import copy
import inspect
import io
import warnings

import numpy as np
import pytest

pytest.importorskip("torch.optim")  # see test_bridge.py: not this folder posing as torch
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

import optarena.torch as ot  # noqa: E402
from optarena.torch._signatures import ALIASES, IMPLEMENTATION  # noqa: E402


def T(value):  # noqa: N802 - reads as torch.tensor in the tables
    # float64 as the model: torch computes a Tensor lr's step size in the Tensor's dtype, ours
    # reads its value (a float32 lr on float64 parameters differs by float32 rounding)
    return torch.tensor(value, dtype=torch.float64 if isinstance(value, (float, list)) else None)


CLASSES = ["SGD", "Adam", "AdamW", "NAdam", "RAdam", "RMSprop", "Adagrad", "Adadelta", "Adamax"]
STEPS = 12  # past RAdam's first rectified step (t = 6)
OURS_ONLY = {"fused", *ALIASES}  # keywords ours adds to torch's (keyword-only, after torch's)

# torch's optim_inputs_func_<name> for the CPU, then (after the blank line) ours: the rest of the
# documented options, Tensor lr and betas, non-default betas and eps, flags together
CONFIGS: dict[str, list[dict]] = {
    "SGD": [
        {}, {"lr": 1e-2}, {"lr": T(0.001)}, {"weight_decay": 0.5}, {"momentum": 0.9},
        {"weight_decay": 0.1, "maximize": True}, {"momentum": 0.9, "dampening": 0.5},
        {"momentum": 0.9, "weight_decay": 0.1}, {"momentum": 0.9, "nesterov": True, "weight_decay": 0.1},

        {"lr": T(0.05), "momentum": 0.8, "nesterov": True, "weight_decay": T(0.01), "maximize": True},
    ],
    "Adam": [
        {}, {"lr": 0.01}, {"weight_decay": 0.1}, {"weight_decay": 0.1, "maximize": True},
        {"weight_decay": 0.1, "amsgrad": True},

        {"lr": T(0.01)}, {"lr": T(0.01), "betas": (T(0.8), T(0.99)), "amsgrad": True},
        {"betas": (0.5, 0.9), "eps": 1e-3, "maximize": True},
        {"weight_decay": 0.1, "decoupled_weight_decay": True},
        {"lr": 0.01, "weight_decay": 0.3, "amsgrad": True, "maximize": True, "decoupled_weight_decay": True},
    ],
    "AdamW": [
        {}, {"lr": 0.01}, {"weight_decay": 0.1}, {"weight_decay": 0.1, "maximize": True},
        {"weight_decay": 0.1, "amsgrad": True},

        {"lr": T(0.01)}, {"lr": T(0.01), "betas": (T(0.8), T(0.99)), "amsgrad": True},
        {"betas": (0.5, 0.9), "eps": 1e-3, "weight_decay": 0.3, "amsgrad": True, "maximize": True},
    ],
    "NAdam": [
        {}, {"lr": 1e-3}, {"momentum_decay": 6e-3}, {"weight_decay": 0.1},
        {"weight_decay": 0.1, "momentum_decay": 6e-3},
        {"weight_decay": 0.1, "momentum_decay": 6e-3, "decoupled_weight_decay": True},
        {"weight_decay": 0.1, "maximize": True},

        {"lr": T(0.01), "betas": (0.8, 0.99), "eps": 1e-6},
        {"weight_decay": 0.1, "decoupled_weight_decay": True, "maximize": True},
    ],
    "RAdam": [
        {}, {"lr": 2e-3}, {"eps": 1e-6}, {"weight_decay": 0.1},
        {"weight_decay": 0.1, "decoupled_weight_decay": True}, {"weight_decay": 0.1, "maximize": True},

        {"lr": T(0.01), "betas": (0.8, 0.99)},
        {"weight_decay": 0.1, "decoupled_weight_decay": True, "maximize": True},
    ],
    "RMSprop": [
        {}, {"lr": 1e-3}, {"weight_decay": 0.1}, {"maximize": True}, {"weight_decay": 0.1, "centered": True},
        {"maximize": True, "weight_decay": 0.1}, {"weight_decay": 0.1, "centered": True, "momentum": 0.1},
        {"weight_decay": 0.1, "centered": True, "momentum": 0.1, "maximize": True},

        {"lr": T(0.001), "alpha": 0.9, "eps": 1e-6, "momentum": 0.5},
    ],
    "Adagrad": [
        {}, {"weight_decay": 0.1}, {"weight_decay": 0.1, "maximize": True}, {"lr": 0.1},
        {"initial_accumulator_value": 0.1, "weight_decay": 0.1}, {"lr": 0.1, "lr_decay": 0.5, "weight_decay": 0.1},
        {"lr": T(0.001)},

        {"eps": 1e-6, "maximize": True, "initial_accumulator_value": 0.5},
    ],
    "Adadelta": [
        {}, {"lr": 0.01}, {"weight_decay": 0.1}, {"maximize": True}, {"weight_decay": 0.1, "maximize": True},
        {"rho": 0.95, "weight_decay": 0.9},

        {"lr": T(0.5), "eps": 1e-4, "rho": 0.5},
    ],
    "Adamax": [
        {}, {"lr": 0.1}, {"weight_decay": 0.1}, {"maximize": True}, {"weight_decay": 0.1, "maximize": True},

        {"lr": T(0.01), "betas": (0.8, 0.99), "eps": 1e-6},
    ],
}
# how torch computes, each with every configuration (fused: the richest one only; the kernel
# equals the readable rule for every case in tests/optim/test_fused.py, and compiling costs)
IMPLS = ["default", "foreach=False", "foreach=True", "positional", "fused=True"]
TORCH_FUSED = {"SGD", "Adam", "AdamW", "Adagrad"}  # torch has a CPU fused kernel


def _cases():
    for name in CLASSES:
        for k, config in enumerate(CONFIGS[name]):
            for impl in IMPLS:
                if impl != "fused=True" or k == len(CONFIGS[name]) - 1:
                    yield pytest.param(name, config, impl, id=f"{name}-{k}-{impl}")


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    # a 16-wide model's ops are ~10 us of work; torch's OpenMP threads waiting for a busy second
    # core make them ~40x slower, in ours and torch's alike
    old = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(old)


@pytest.fixture(autouse=True)
def f64_default():
    # torch keeps scalar state (step, NAdam's mu_product) in the default dtype
    old = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    yield
    torch.set_default_dtype(old)


def _model(seed=0):
    torch.manual_seed(seed)
    return torch.nn.Sequential(torch.nn.Linear(8, 16), torch.nn.Tanh(), torch.nn.Linear(16, 3)).double()


def _batches(seed=0, n=6):
    rng = np.random.default_rng(seed)
    return [(T(rng.normal(size=(16, 8))), T(rng.integers(0, 3, size=16))) for _ in range(n)]


def _train(model, opt, batches, steps=STEPS):
    """``steps`` steps; the last bias sits out every other one (no grad: no state, no step)."""
    for k in range(steps):
        x, y = batches[k % len(batches)]
        opt.zero_grad()
        F.cross_entropy(model(x), y).backward()
        if k % 2 == 1:
            model[2].bias.grad = None
        opt.step()


def _args(name, config, impl):
    """(args, kwargs) for both constructors; Tensors are copied so neither sees the other's."""
    kw = copy.deepcopy(config)
    if impl.startswith(("foreach", "fused")):
        flag, value = impl.split("=")
        kw[flag] = value == "True"
    if impl != "positional":
        return (), kw
    params = list(inspect.signature(getattr(torch.optim, name)).parameters.values())[1:]
    positional = [p for p in params if p.kind is inspect.Parameter.POSITIONAL_OR_KEYWORD]
    return tuple(kw.pop(p.name, p.default) for p in positional), kw


def _same(a, b) -> bool:
    if isinstance(a, (tuple, list)) and isinstance(b, (tuple, list)):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    if isinstance(a, torch.Tensor) or isinstance(b, torch.Tensor):
        return float(a) == float(b)
    return type(a) is type(b) and a == b


def _close(a, b, tol=1e-12):
    a, b = a.detach().double(), b.detach().double()
    floor = max(0.1 * float(b.abs().max()), 1e-30) if b.numel() else 1.0
    return b.numel() == 0 or float(((a - b).abs() / b.abs().clamp_min(floor)).max()) <= tol


def _assert_like_torch(ours, ref, m1, m2, tol=1e-12):
    """Same parameters; torch's state keys (and values) and param-group keys (and values) in ours."""
    for (n, p), q in zip(m1.named_parameters(), m2.parameters()):
        assert _close(p, q, tol), n
        theirs = {k: v for k, v in ref.state[q].items() if v is not None}
        assert set(theirs) <= set(ours.state[p]), n
        for k, v in theirs.items():
            assert _close(ours.state[p][k], v, tol), (n, k)
    for g, h in zip(ours.param_groups, ref.param_groups):
        assert set(h) <= set(g)
        assert all(_same(g[k], h[k]) for k in h if k != "params"), [(k, g[k], h[k]) for k in h if k != "params"]
    sd, ref_sd = ours.state_dict(), ref.state_dict()
    assert set(ref_sd["state"]) <= set(sd["state"])
    assert all({k for k, v in ref_sd["state"][i].items() if v is not None} <= set(sd["state"][i]) for i in ref_sd["state"])


# ---------------------------------------------------------------- the constructor itself


@pytest.mark.parametrize("name", CLASSES)
def test_signature_is_torchs(name):
    """torch's parameters, in torch's order and kinds, with torch's defaults (repr: 0 stays 0);
    ours adds only keyword-only extras after them."""
    theirs = list(inspect.signature(getattr(torch.optim, name).__init__).parameters.values())
    ours = list(inspect.signature(getattr(ot, name).__init__).parameters.values())
    assert [(p.name, p.kind, repr(p.default)) for p in ours[:len(theirs)]] == \
           [(p.name, p.kind, repr(p.default)) for p in theirs]
    extra = ours[len(theirs):]
    assert {p.name for p in extra} <= OURS_ONLY and all(p.kind is p.KEYWORD_ONLY for p in extra)
    assert ("fused" in {p.name for p in extra}) == (name not in TORCH_FUSED)
    assert list(inspect.signature(getattr(ot, name)).parameters) == [p.name for p in ours[1:]]


def test_sgd_momentum_is_torchs_sgd_with_the_articles_defaults():
    theirs = inspect.signature(torch.optim.SGD).parameters
    ours = inspect.signature(ot.SGDMomentum).parameters
    article = {"lr": 0.01, "momentum": 0.9}
    assert [(k, p.kind, article.get(k, p.default)) for k, p in theirs.items()] == \
           [(k, p.kind, p.default) for k, p in list(ours.items())[:len(theirs)]]


def test_lion_has_torchs_shape_and_optaxs_defaults():
    sig = inspect.signature(ot.Lion)
    assert str(sig) == ("(params, lr=0.0001, betas=(0.9, 0.99), weight_decay=0.001, *, maximize=False, foreach=None, "
                        "capturable=False, differentiable=False, fused=None, learning_rate=None, beta1=None, beta2=None)")
    w = torch.nn.Parameter(T([1.0, -2.0]))
    a, b = ot.Lion([w], lr=0.1, betas=(0.8, 0.9)), ot.Lion([w], learning_rate=0.1, beta1=0.8, beta2=0.9)
    assert a.param_groups[0] == b.param_groups[0]
    assert {k for k in a.param_groups[0] if k != "params"} == set(sig.parameters) - {"params", *ALIASES}


@pytest.mark.parametrize("name", CLASSES)
def test_every_rule_setting_is_a_torch_keyword(name):
    """The rule's hyperparameters are torch's keywords (the article's names map to lr/betas/eps),
    and torch's keywords are the rule's or say how to compute (or pick Adam's decoupled rule)."""
    cls = getattr(ot, name)
    torch_keys = set(inspect.signature(getattr(torch.optim, name)).parameters) - {"params"}
    rule_keys = {ALIASES.get(h.name, (h.name,))[0] for h in cls.spec.hypers}
    assert rule_keys <= torch_keys
    assert torch_keys - rule_keys <= set(IMPLEMENTATION) | ({"decoupled_weight_decay"} if name == "Adam" else set())


@pytest.mark.parametrize("name", CLASSES)
def test_every_keyword_is_exercised(name):
    """Each keyword torch documents is set to a non-default value by a configuration here (or is
    refused: test_unimplemented_options_are_refused)."""
    sig = inspect.signature(getattr(torch.optim, name)).parameters
    set_here = {k for config in CONFIGS[name] for k, v in config.items() if not _same(v, sig[k].default)}
    set_here |= {"foreach", "capturable", "differentiable"} | ({"fused"} if name in TORCH_FUSED else set())
    assert set(sig) - {"params"} <= set_here


# ---------------------------------------------------------------- the same numbers as torch


@pytest.mark.parametrize("name,config,impl", list(_cases()))
def test_same_steps_as_torch(name, config, impl):
    """Built with torch's arguments, stepped as torch.optim.<name> (the for-loop for foreach and
    positional; torch's fused kernel against ours where both have one)."""
    args, kw = _args(name, config, impl)
    # torch without a fused kernel for it: ours with its kernel against torch's for-loop
    torch_kw = kw if impl != "fused=True" or name in TORCH_FUSED else config
    m1, m2 = _model(), _model()
    try:
        ref = getattr(torch.optim, name)(m2.parameters(), *copy.deepcopy(args), **copy.deepcopy(torch_kw))
    except Exception as exc:  # noqa: BLE001 - whatever torch raises, ours must raise too
        with pytest.raises(type(exc)):
            getattr(ot, name)(m1.parameters(), *args, **kw)
        return
    ours = getattr(ot, name)(m1.parameters(), *args, **kw)
    batches = _batches()
    _train(m1, ours, batches)
    _train(m2, ref, batches)
    _assert_like_torch(ours, ref, m1, m2)


@pytest.mark.parametrize("name", CLASSES)
def test_the_articles_names_are_aliases(name):
    """learning_rate, beta1, beta2, epsilon (where the rule has them) build the same optimizer as
    torch's names, in the constructor and in a param group."""
    config = {"lr": 0.03, "betas": (0.7, 0.95), "eps": 1e-4}
    sig = inspect.signature(getattr(torch.optim, name)).parameters
    theirs = {k: v for k, v in config.items() if k in sig}
    article = {"lr": {"learning_rate": 0.03}, "betas": {"beta1": 0.7, "beta2": 0.95}, "eps": {"epsilon": 1e-4}}
    aliases = {a: v for k in theirs for a, v in article[k].items()}
    m1, m2, m3 = _model(), _model(), _model()
    ours = getattr(ot, name)(m1.parameters(), **aliases)
    grouped = getattr(ot, name)([{"params": m3.parameters(), **aliases}])
    ref = getattr(torch.optim, name)(m2.parameters(), **theirs)
    for m, opt in ((m1, ours), (m2, ref), (m3, grouped)):
        _train(m, opt, _batches())
    _assert_like_torch(ours, ref, m1, m2)
    _assert_like_torch(grouped, ref, m3, m2)
    assert not set(aliases) & set(ours.param_groups[0]) and not set(aliases) & set(grouped.param_groups[0])


# ---------------------------------------------------------------- what torch rejects


def _bad_inputs(name):
    """(params or None for a fresh model's, kwargs) that torch.optim.<name> rejects (or warns about)."""
    p, q = (torch.nn.Parameter(torch.randn(2, 2)) for _ in range(2))
    sig = inspect.signature(getattr(torch.optim, name)).parameters
    out = [
        (p, {}),  # a Tensor, not an iterable of them
        ([], {}),
        ([p, p], {}),  # duplicate parameters: torch warns
        ([{"params": p}, {"params": p}], {}),  # one parameter in two groups
        ([("weight", p), q], {}),  # names for some parameters only
        ([{"params": [p], "lr": 1e-2}, {"params": [("weight", q)]}], {}),
        ([{"params": {p, q}}], {}),  # a set: no order
        ([p * 2], {}),  # not a leaf
        ([1.0], {}),
        ([{"lr": 0.1}], {}),  # a group without params
        (None, {"lr": -1e-3}), (None, {"lr": T([0.001, 0.001])}), (None, {"lr": "0.1"}), (None, {"lr": None}),
        (None, {"weight_decay": -1}),
        (None, {"lr_2": 0.1}),  # not a keyword of torch's
    ]
    if "eps" in sig:
        out.append((None, {"eps": -1e-8}))
    if "betas" in sig:
        out += [(None, {"betas": b}) for b in ((1.0, 0.0), (0.0, 1.0), (-0.1, 0.9), (0.9,), 0.9)]
    if "momentum" in sig:
        out.append((None, {"momentum": -0.5}))
    if name == "SGD":
        out += [(None, {"nesterov": True}), (None, {"nesterov": True, "momentum": 0.9, "dampening": 0.5})]
    if name == "Adadelta":
        out += [(None, {"rho": 1.1}), (None, {"rho": -0.1})]
    if name == "Adagrad":
        out += [(None, {"lr_decay": -0.5}), (None, {"initial_accumulator_value": -1.0})]
    if name == "NAdam":
        out.append((None, {"momentum_decay": -0.2}))
    if name == "RMSprop":
        out.append((None, {"alpha": -0.1}))
    if name in ("Adam", "AdamW"):
        out += [
            (None, {"lr": T(0.001), "foreach": True}),
            (None, {"betas": (0.9, T(0.99))}), (None, {"betas": (T(0.9), 0.99)}), (None, {"betas": (0, 0.99)}),
            (None, {"betas": (T(0.9), T(0.99)), "foreach": True}),
            (None, {"betas": (T([0.9, 0.9]), T(0.99))}),
        ]
    if name in TORCH_FUSED:
        out += [(None, {"foreach": True, "fused": True}), (None, {"fused": True, "differentiable": True})]
    n_positional = sum(p.kind is p.POSITIONAL_OR_KEYWORD for p in sig.values())
    out.append((None, {"__args__": (0.1,) * n_positional}))  # one positional argument too many
    out.append((None, {"__args__": (0.1,), "lr": 0.1}))  # lr twice
    return out


def _build(cls, params, kw):
    kw = dict(kw)
    args = kw.pop("__args__", ())
    return cls(_model().parameters() if params is None else params, *args, **kw)


def _raised(cls, params, kw):
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # torch's duplicate-parameter warning, as the error it announces
        try:
            _build(cls, params, kw)
        except (Exception, UserWarning) as exc:  # noqa: BLE001
            return exc
    return None


@pytest.mark.parametrize("name", CLASSES)
def test_rejects_what_torch_rejects(name):
    """Every bad input above: torch raises; ours raises the same type, and torch's own words
    where torch raises ValueError or RuntimeError for the value itself."""
    for params, kw in _bad_inputs(name):
        theirs = _raised(getattr(torch.optim, name), params, kw)
        assert theirs is not None, (params, kw)
        ours = _raised(getattr(ot, name), params, kw)
        assert type(ours) is type(theirs), (kw, theirs, ours)
        if isinstance(theirs, (ValueError, RuntimeError)) and params is None and "__args__" not in kw:
            assert str(theirs) in str(ours), (kw, theirs, ours)


@pytest.mark.parametrize("name", [*CLASSES, "SGDMomentum", "Lion"])
def test_unimplemented_options_are_refused(name):
    """capturable=True and differentiable=True (both need what NumPy stepping cannot give) are
    refused, in the constructor, in a group, in a loaded state_dict and when set later."""
    cls = getattr(ot, name)
    options = [k for k in ("capturable", "differentiable") if k in inspect.signature(cls).parameters]
    assert options  # every class takes them (Lion too: a script passes them to any optimizer)
    for option in options:
        with pytest.raises(NotImplementedError, match=f"{option}=True .* not implemented by optarena.torch"):
            cls(_model().parameters(), **{option: True})
        with pytest.raises(NotImplementedError, match=option):
            cls([{"params": _model().parameters(), option: True}])
        opt = cls(_model().parameters())
        sd = opt.state_dict()
        sd["param_groups"][0][option] = True
        with pytest.raises(NotImplementedError, match=option):
            opt.load_state_dict(sd)
        m = _model()
        opt = cls(m.parameters())
        opt.param_groups[0][option] = True
        F.cross_entropy(m(_batches()[0][0]), _batches()[0][1]).backward()
        with pytest.raises(NotImplementedError, match=option):
            opt.step()


def test_values_torch_takes_that_the_rules_refuse():
    """The few values torch.optim takes without a check that optarena's rules refuse, each with a
    ValueError naming the setting (all degenerate: alpha=1 freezes RMSprop's average at 0)."""
    cases = [("RMSprop", {"alpha": 1.0}, "alpha"), ("SGD", {"momentum": 0.9, "dampening": 1.5}, "dampening"),
             ("SGD", {"momentum": 0.9, "dampening": -0.5}, "dampening"), ("Adam", {"lr": float("inf")}, "learning_rate"),
             ("SGD", {"lr": float("nan")}, "Invalid learning rate")]  # SGD's lr < 0 lets nan through
    for name, kw, field in cases:
        getattr(torch.optim, name)(_model().parameters(), **kw)
        with pytest.raises(ValueError, match=f"{field}( must be|: nan)"):
            getattr(ot, name)(_model().parameters(), **kw)


# ---------------------------------------------------------------- state_dicts both ways


RICH = {name: CONFIGS[name][-1] for name in CLASSES}


@pytest.mark.parametrize("name", CLASSES)
@pytest.mark.parametrize("direction", ["torch to ours", "ours to torch"])
def test_state_dicts_move_between_torch_and_ours(name, direction):
    """Half the steps in one, its state_dict (through torch.save) into a fresh optimizer of the
    other built with defaults only, the rest there: the same trajectory as torch all along."""
    m_ref, m_mid = _model(), _model()
    ref = getattr(torch.optim, name)(m_ref.parameters(), **copy.deepcopy(RICH[name]))
    first, second = (torch.optim, ot) if direction == "torch to ours" else (ot, torch.optim)
    opt = getattr(first, name)(m_mid.parameters(), **copy.deepcopy(RICH[name]))
    batches = _batches()
    _train(m_ref, ref, batches, STEPS // 2)
    _train(m_mid, opt, batches, STEPS // 2)
    buf = io.BytesIO()
    torch.save(opt.state_dict(), buf)
    buf.seek(0)
    fresh = getattr(second, name)(m_mid.parameters())
    fresh.load_state_dict(torch.load(buf))
    _train(m_ref, ref, batches, STEPS // 2)
    _train(m_mid, fresh, batches, STEPS // 2)
    ours, theirs = (fresh, ref) if direction == "torch to ours" else (opt, ref)
    for p, q in zip(m_mid.parameters(), m_ref.parameters()):
        assert _close(p, q)
    if direction == "torch to ours":
        _assert_like_torch(ours, theirs, m_mid, m_ref)


def test_loads_optarenas_own_older_state_dicts():
    """Before torch's names, groups held learning_rate, beta1, beta2, epsilon next to lr."""
    m1, m2 = _model(), _model()
    ref = ot.Adam(m1.parameters(), lr=0.01, betas=(0.8, 0.99), eps=1e-6)
    _train(m1, ref, _batches(), 4)
    sd = ref.state_dict()
    old = {k: v for k, v in sd["param_groups"][0].items() if k not in ("betas", "eps", "foreach", "capturable",
                                                                       "differentiable", "decoupled_weight_decay")}
    sd["param_groups"][0] = {**old, "learning_rate": 0.01, "beta1": 0.8, "beta2": 0.99, "epsilon": 1e-6}
    m2.load_state_dict(m1.state_dict())
    ours = ot.Adam(m2.parameters())
    ours.load_state_dict(sd)
    assert ours.param_groups[0] == {**ref.param_groups[0], "params": ours.param_groups[0]["params"]}
    _train(m1, ref, _batches(), 4)
    _train(m2, ours, _batches(), 4)
    assert all(torch.equal(p, q) for p, q in zip(m1.parameters(), m2.parameters()))


# ---------------------------------------------------------------- the rest of a training script


@pytest.mark.parametrize("name,kw", [("SGD", {"lr": 0.1, "momentum": 0.9}), ("Adam", {"lr": 0.01}),
                                     ("AdamW", {"lr": T(0.01)}), ("NAdam", {}), ("RMSprop", {"momentum": 0.5})])
def test_schedulers_that_cycle_momentum_drive_it_as_torch(name, kw):
    """OneCycleLR writes lr and momentum (SGD, RMSprop) or betas (Adams) into the groups each
    step, a Tensor lr in place: ours reads them all."""
    m1, m2 = _model(), _model()
    ours, ref = getattr(ot, name)(m1.parameters(), **copy.deepcopy(kw)), getattr(torch.optim, name)(m2.parameters(), **copy.deepcopy(kw))
    scheds = [torch.optim.lr_scheduler.OneCycleLR(o, max_lr=0.05, total_steps=STEPS + 1) for o in (ours, ref)]
    for k in range(STEPS):
        x, y = _batches()[k % 6]
        for m, opt, s in ((m1, ours, scheds[0]), (m2, ref, scheds[1])):
            opt.zero_grad()
            F.cross_entropy(m(x), y).backward()
            opt.step()
            s.step()
    assert ours.param_groups[0].get("betas", ours.param_groups[0].get("momentum")) != \
           ours.defaults.get("betas", ours.defaults.get("momentum"))  # the scheduler moved it
    _assert_like_torch(ours, ref, m1, m2)


def test_a_group_can_step_as_adamw_inside_adam():
    """torch's Adam(decoupled_weight_decay=True) per group: our Adam steps that group with AdamW's rule."""
    m1, m2 = _model(), _model()
    ours = ot.Adam([{"params": m1[0].parameters(), "decoupled_weight_decay": True},
                    {"params": m1[2].parameters()}], lr=0.01, weight_decay=0.1)
    ref = torch.optim.Adam([{"params": m2[0].parameters(), "decoupled_weight_decay": True},
                            {"params": m2[2].parameters()}], lr=0.01, weight_decay=0.1)
    _train(m1, ours, _batches())
    _train(m2, ref, _batches())
    _assert_like_torch(ours, ref, m1, m2)


def test_adagrad_makes_its_state_in_init_as_torch():
    m1, m2 = _model(), _model()
    ours = ot.Adagrad([{"params": m1[0].parameters(), "initial_accumulator_value": 0.3},
                       {"params": m1[2].parameters()}], initial_accumulator_value=0.1)
    ref = torch.optim.Adagrad([{"params": m2[0].parameters(), "initial_accumulator_value": 0.3},
                               {"params": m2[2].parameters()}], initial_accumulator_value=0.1)
    assert len(ours.state) == len(ref.state) == 4
    _assert_like_torch(ours, ref, m1, m2)  # torch fills every sum from the constructor's value
    _train(m1, ours, _batches())
    _train(m2, ref, _batches())
    _assert_like_torch(ours, ref, m1, m2)


def test_a_fused_step_keeps_torchs_thread_count():
    """numba's OpenMP launch sets the calling thread's OpenMP thread count, which torch reads as
    its own: without a restore, a script's torch.set_num_threads(1) became numba's count after
    the first kernel step (and its model ran ~40x slower on a busy machine)."""
    p = torch.nn.Parameter(torch.randn(40_000, dtype=torch.float32))
    p.grad = torch.randn_like(p)
    opt = ot.Adam([p], fused=True)
    assert torch.get_num_threads() == 1  # the one_thread fixture
    opt.step()
    opt.step()
    assert torch.get_num_threads() == 1


def test_an_optimizer_torch_lacks_gets_torchs_shape(monkeypatch):
    """A rule registered later (here Adamax's under another name) gets lr, betas, eps first, its
    own names after, torch's options, and the article's aliases; it steps as the original."""
    import dataclasses

    from optarena.optim import registry
    from optarena.torch import _optimizer

    spec = dataclasses.replace(registry.get("adamax"), name="adamax_like", title="Adamax Like", aliases=(), class_name="",
                               torch=None)
    monkeypatch.setitem(registry._REGISTRY, spec.name, spec)
    monkeypatch.setattr(_optimizer, "_CLASSES", dict(_optimizer._CLASSES))
    cls = ot.optimizer_class("adamax_like")
    assert cls.__name__ == "AdamaxLike" and cls.constructor.torch_name is None
    assert str(inspect.signature(cls)) == (
        "(params, lr=0.002, betas=(0.9, 0.999), eps=1e-08, weight_decay=0.0, *, maximize=False, foreach=None, "
        "capturable=False, differentiable=False, fused=None, learning_rate=None, beta1=None, beta2=None, epsilon=None)")
    m1, m2 = _model(), _model()
    ours = cls(m1.parameters(), 0.01, beta2=0.99, weight_decay=0)  # torch's int 0, for the group comparison
    ref = torch.optim.Adamax(m2.parameters(), 0.01, (0.9, 0.99))
    _train(m1, ours, _batches())
    _train(m2, ref, _batches())
    _assert_like_torch(ours, ref, m1, m2)
