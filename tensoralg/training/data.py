"""Synthetic text with a known answer: a seeded generator of token sequences (numpy only).

The vocabulary is ``n_vocab`` word-like strings ("kemo", "zora", …). A sequence is drawn
position by position from three mechanisms, so every fact a trained model could learn is
planted and known:

* background: a bigram Markov chain P(x_{i+1} | x_i) = (1 − ε)·D_{x_i} + ε/n_vocab, each row
  D_x a Dirichlet draw over ``successors`` random tokens (what the direct path W_U W_E learns);
* skip-trigrams "a … b → c": with the current token b, and a the most recent of the tokens
  planted with b that occur earlier in the context, the next token is c with probability
  ``fire`` (else the chain); planted a's are emitted with probability ``p_a`` per position and
  a planted b that completes some triple with probability ``p_b`` (otherwise the chain runs).
  Triples share an a (a … b₁ → c₁, a … b₂ → c₂, the paper's "keep … in mind / keep … at bay")
  or a b (a₁ … b → c₁, a₂ … b → c₂) in ``shared`` pairs each;
* repeated segments: with probability ``repeat`` a sequence holds a span of ``L`` uniform random
  tokens (L drawn in ``segment``) ``m`` times (m drawn in ``copies``, fewer if m·L > n_ctx), the
  copies at uniformly random non-overlapping offsets, so only an induction mechanism predicts
  the second and later copies. (With three copies, attending to "the earlier occurrence of the
  current token" finds two positions; only keys that say "my previous token was the current
  one" point at the right next token from both, which favours the paper's K-composition route
  over Q-composition with a same-token head.)

Position i's label (``Batch.kinds[:, i]``) describes the prediction of token i + 1:
ORDINARY, FIRST (inside a first copy), SECOND (inside the second copy, predictable by
induction), LATER (inside a third or later copy) or TRIGRAM (a planted triple applied:
P(next = c) = fire + (1 − fire)·P(c | b)).

>>> grammar = Grammar.build(DataConfig(n_vocab=40, n_ctx=24, n_triples=6, repeat=1.0, seed=1))
>>> batch = grammar.sample(np.random.default_rng(0), 3)
>>> batch.tokens.shape, batch.kinds.shape
((3, 24), (3, 23))
>>> len(set(grammar.vocabulary)) == 40, grammar.triples.shape
(True, (6, 3))
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from ..errors import TensoralgError

ORDINARY, FIRST, SECOND, LATER, TRIGRAM = 0, 1, 2, 3, 4
KIND_NAMES = ("ordinary", "first copy", "second copy", "later copy", "planted trigram")

_CONSONANTS = "bdfgklmnprstvz"
_VOWELS = "aeiou"


class DataError(TensoralgError):
    """A data-generator setting that cannot be met (sizes, probabilities)."""


@dataclass(frozen=True)
class DataConfig:
    """Every parameter of the generator; with ``seed`` it fixes the vocabulary, chain and triples."""

    n_vocab: int = 64
    n_ctx: int = 32
    seed: int = 0
    successors: int = 4
    smoothing: float = 0.1
    n_triples: int = 0
    shared: int = 0
    fire: float = 0.9
    p_a: float = 0.05
    p_b: float = 0.05
    repeat: float = 0.0
    segment: tuple[int, int] = (4, 12)
    copies: tuple[int, int] = (2, 2)

    def __post_init__(self) -> None:
        object.__setattr__(self, "segment", tuple(int(x) for x in self.segment))
        object.__setattr__(self, "copies", tuple(int(x) for x in self.copies))
        if not 8 <= self.n_vocab <= len(_CONSONANTS) ** 2 * len(_VOWELS) ** 2:
            raise DataError(f"n_vocab must lie in [8, {len(_CONSONANTS) ** 2 * len(_VOWELS) ** 2}]; got {self.n_vocab}")
        if self.n_ctx < 4:
            raise DataError(f"n_ctx must be at least 4; got {self.n_ctx}")
        if not 1 <= self.successors <= self.n_vocab:
            raise DataError(f"successors must lie in [1, n_vocab = {self.n_vocab}]; got {self.successors}")
        for name in ("smoothing", "fire", "p_a", "p_b", "repeat"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise DataError(f"{name} is a probability, in [0, 1]; got {value}")
        if self.p_a + self.p_b > 1.0:
            raise DataError(f"p_a + p_b must be at most 1; got {self.p_a} + {self.p_b}")
        if self.n_triples < 0 or self.shared < 0 or 4 * self.shared > self.n_triples:
            raise DataError(f"need 0 ≤ 4·shared ≤ n_triples (shared pairs of each kind); got shared {self.shared}, "
                            f"n_triples {self.n_triples}")
        # distinct a and b tokens (n_triples − shared of each), then outputs: two, so a shared pair's can differ
        roles = 2 * (self.n_triples - self.shared) + (2 if self.shared else 1)
        if self.n_triples and roles > self.n_vocab:
            raise DataError(f"{self.n_triples} triples ({self.shared} shared pairs of each kind) need {roles} tokens; "
                            f"n_vocab is {self.n_vocab}")
        low, high = self.segment
        if self.repeat > 0 and not 2 <= low <= high <= self.n_ctx // 2:
            raise DataError(f"segment lengths must satisfy 2 ≤ min ≤ max ≤ n_ctx/2 = {self.n_ctx // 2}; got {self.segment}")
        if self.repeat > 0 and not 2 <= self.copies[0] <= self.copies[1]:
            raise DataError(f"copies must satisfy 2 ≤ min ≤ max; got {self.copies}")

    def to_json(self) -> dict:
        return {**asdict(self), "segment": list(self.segment), "copies": list(self.copies)}


def vocabulary(n: int, rng: np.random.Generator) -> tuple[str, ...]:
    """n distinct two-syllable words (consonant–vowel pairs, e.g. "kemo"), drawn without replacement.

    >>> vocabulary(3, np.random.default_rng(0))
    ('pupa', 'nasu', 'tune')
    """
    syllables = [c + v for c in _CONSONANTS for v in _VOWELS]
    words = [a + b for a in syllables for b in syllables]
    return tuple(words[i] for i in rng.choice(len(words), size=n, replace=False))


def _bigram_chain(config: DataConfig, rng: np.random.Generator) -> np.ndarray:
    """P[x, y] = P(next = y | current = x): (1 − ε)·Dirichlet over ``successors`` tokens + ε/n_vocab."""
    n = config.n_vocab
    chain = np.zeros((n, n))
    for x in range(n):
        chain[x, rng.choice(n, size=config.successors, replace=False)] = rng.dirichlet(np.ones(config.successors))
    return (1.0 - config.smoothing) * chain + config.smoothing / n


def _triples(config: DataConfig, rng: np.random.Generator) -> np.ndarray:
    """k × 3 (a, b, c): ``shared`` pairs sharing a, ``shared`` pairs sharing b, the rest alone.

    a and b tokens are all distinct; each c differs from every a and b (so a c never plants an a)."""
    k, s = config.n_triples, config.shared
    singles = k - 4 * s
    roles = rng.permutation(config.n_vocab)
    n_a, n_b = s + 2 * s + singles, 2 * s + s + singles
    a_pool, b_pool, c_pool = roles[:n_a], roles[n_a:n_a + n_b], roles[n_a + n_b:]
    a_of = np.concatenate([np.repeat(a_pool[:s], 2), a_pool[s:3 * s], a_pool[3 * s:]])
    b_of = np.concatenate([b_pool[:2 * s], np.repeat(b_pool[2 * s:3 * s], 2), b_pool[3 * s:]])
    c_of = np.empty(k, dtype=int)
    for i in range(k):  # distinct outputs within a shared pair
        partner = i ^ 1 if i < 4 * s else -1
        choices = c_pool if partner < 0 or partner > i else c_pool[c_pool != c_of[partner]]
        c_of[i] = rng.choice(choices)
    return np.stack([a_of, b_of, c_of], axis=1).astype(np.int64)


@dataclass(frozen=True)
class Batch:
    """tokens: B × n_ctx; kinds: B × (n_ctx − 1), the kind of the prediction of token i + 1 made at i;
    planted: B × (n_ctx − 1), the planted c where a triple applied at i (else −1)."""

    tokens: np.ndarray
    kinds: np.ndarray
    planted: np.ndarray


@dataclass(frozen=True, eq=False)
class Grammar:
    """The generator built from a :class:`DataConfig`: vocabulary, chain P (n_vocab × n_vocab), triples (k × 3)."""

    config: DataConfig
    vocabulary: tuple[str, ...]
    chain: np.ndarray
    triples: np.ndarray

    @classmethod
    def build(cls, config: DataConfig) -> "Grammar":
        rng = np.random.default_rng(config.seed)
        words = vocabulary(config.n_vocab, rng)
        chain = _bigram_chain(config, rng)
        triples = _triples(config, rng) if config.n_triples else np.zeros((0, 3), dtype=np.int64)
        return cls(config, words, chain, triples)

    def triple_strings(self, triples: np.ndarray | None = None) -> list[str]:
        """"a … b → c" for each triple, in words."""
        triples = self.triples if triples is None else triples
        return [f"{self.vocabulary[a]} … {self.vocabulary[b]} → {self.vocabulary[c]}" for a, b, c in triples]

    def _segments(self, rng: np.random.Generator, size: int) -> list[tuple[int, np.ndarray]]:
        """Per sequence (L, starts of its copies), or (0, empty) for a sequence without a repeat."""
        n = self.config.n_ctx
        out = []
        for repeats in rng.random(size) < self.config.repeat:
            if not repeats:
                out.append((0, np.zeros(0, dtype=int)))
                continue
            length = int(rng.integers(self.config.segment[0], self.config.segment[1] + 1))
            m = min(int(rng.integers(self.config.copies[0], self.config.copies[1] + 1)), n // length)
            # m sorted offsets into the n − m·L free positions, then each shifted past the copies before it.
            offsets = np.sort(rng.integers(0, n - m * length + 1, size=m))
            out.append((length, offsets + length * np.arange(m)))
        return out

    def sample(self, rng: np.random.Generator, size: int) -> Batch:
        """``size`` sequences of n_ctx tokens, drawn position by position for the whole batch at once."""
        if size < 1:
            raise DataError(f"the batch size must be positive; got {size}")
        cfg, n, V = self.config, self.config.n_ctx, self.config.n_vocab
        rows = np.arange(size)
        segments = self._segments(rng, size)
        forced = np.full((size, n), -1, dtype=np.int64)
        kinds = np.zeros((size, n), dtype=np.int8)  # kind of the token at each position
        for row, (length, starts) in enumerate(segments):
            segment = rng.integers(0, V, size=length)
            for copy, start in enumerate(starts):
                forced[row, start:start + length] = segment
                kinds[row, start + 1:start + length] = min(copy + FIRST, LATER)
        output = np.full((V, V), -1, dtype=np.int64)  # output[b, a] = c
        if len(self.triples):
            output[self.triples[:, 1], self.triples[:, 0]] = self.triples[:, 2]
        planted_a = np.unique(self.triples[:, 0])
        cdf = np.cumsum(self.chain, axis=1)
        last_seen = np.full((size, V), -1, dtype=np.int64)
        tokens = np.empty((size, n), dtype=np.int64)
        planted = np.full((size, n), -1, dtype=np.int64)
        current = rng.integers(0, V, size=size)
        current = np.where(forced[:, 0] >= 0, forced[:, 0], current)
        tokens[:, 0] = current
        last_seen[rows, current] = 0
        for i in range(1, n):
            # Triples: the most recent earlier a planted with the current b.
            candidates = output[current]  # B × V: c for each a, −1 where none is planted
            recency = np.where((candidates >= 0) & (last_seen >= 0), last_seen, -1)
            a = recency.argmax(axis=1)
            applies = (recency[rows, a] >= 0) & (forced[:, i] < 0)
            fires = applies & (rng.random(size) < cfg.fire)
            planted[applies, i - 1] = candidates[rows, a][applies]
            chain = (cdf[current] < rng.random(size)[:, None]).sum(axis=1).clip(max=V - 1)
            nxt = chain
            if len(self.triples):
                u = rng.random(size)
                emit_a = ~applies & (u < cfg.p_a)
                nxt = np.where(emit_a, rng.choice(planted_a, size=size), nxt)
                present = last_seen[:, self.triples[:, 0]] >= 0  # B × k
                pick = (rng.random(present.shape) * present).argmax(axis=1)
                emit_b = ~applies & (u >= cfg.p_a) & (u < cfg.p_a + cfg.p_b) & present.any(axis=1)
                nxt = np.where(emit_b, self.triples[pick, 1], nxt)
            nxt = np.where(fires, planted[:, i - 1], nxt)
            nxt = np.where(forced[:, i] >= 0, forced[:, i], nxt)
            tokens[:, i] = nxt
            last_seen[rows, nxt] = i
            current = nxt
        kinds = kinds[:, 1:]
        kinds = np.where(planted[:, :-1] >= 0, TRIGRAM, kinds).astype(np.int8)
        return Batch(tokens, kinds, planted[:, :-1])
