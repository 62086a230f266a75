"""Completion of typed relations into a Gröbner basis of a two-sided ideal (Buchberger–Mora).

Given relations r₁, …, r_m (typed polynomials, see :mod:`tensoralg.algebra.relations`),
the ideal I = {Σ c·u·rᵢ·v} holds every consequence of rᵢ = 0 in the free algebra with
transpose. Orienting each relation by its deg-lex leading word gives rewrite rules
lm(r) → lm(r) − r/lc(r); completion adds the S-polynomials of their overlaps

    overlap     lm(f) = X·Y, lm(g) = Y·Z (Y ≠ 1):   S = f·Z − X·g
    inclusion   lm(f) = X·lm(g)·Z:                   f is replaced by its reduction

reduced by the rules so far, until every overlap reduces to 0 (Bergman's diamond lemma):
then the rules are a Gröbner basis, every word has one normal form, and p ∈ I exactly
when p reduces to 0. Rules are only formed from words whose shapes compose, so
rectangular matrices are handled as paths of a quiver. Every rule remembers how it is
made from the input relations (Σ c·u·rᵢ·v), so reducing p to 0 yields a certificate
p = Σ cⱼ uⱼ r_{iⱼ} vⱼ (checked independently by :mod:`tensoralg.algebra.certificate`).

Completion need not terminate (the ideal may have no finite Gröbner basis), so it runs
under caps on steps, rules and degree; a run stopped by a cap is marked incomplete, and
its rules then decide nothing.

>>> from tensoralg.algebra.symbols import declared_symbol, Letter
>>> from fractions import Fraction as F
>>> A, B, one = (Letter(declared_symbol(n, "n", "n" if n != "u" else "k"), False) for n in ("A", "B", "u"))
>>> rel_A = Poly("n", "k", {(A, one): F(1), (one,): F(-1)})     # A u = u
>>> rel_B = Poly("n", "k", {(B, one): F(1), (one,): F(-1)})     # B u = u
>>> done = complete([rel_A, rel_B])
>>> done.complete, len(done.rules)
(True, 2)
>>> rest, cert = reduce(Poly("n", "k", {(A, B, one): F(1), (one,): F(-1)}), done.rules)   # A B u − u
>>> bool(rest), sorted((len(u), i, len(v), c) for (u, i, v), c in cert.items())
(False, [(0, 0, 0, Fraction(1, 1)), (1, 1, 0, Fraction(1, 1))])
"""

from __future__ import annotations

import heapq
import time
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Iterable, Mapping, Sequence

from .relations import Poly, Word, leading, vertices, word_key

#: A combination Σ c·u·rᵢ·v of input relations: (u, i, v) ↦ c.
Combination = Mapping[tuple[Word, int, Word], Fraction]


@dataclass(frozen=True)
class Rule:
    """lhs → lhs − poly: ``poly`` is monic with leading word ``lhs``; ``origin`` writes it in the inputs."""

    lhs: Word
    poly: Poly
    origin: Combination = field(repr=False)


@dataclass(frozen=True)
class Caps:
    """The limits of one completion: S-polynomials processed, rules kept beyond one per input
    relation, length of a leading word."""

    steps: int = 400
    rules: int = 80
    degree: int = 12


@dataclass(frozen=True)
class Completion:
    """The rules reached, whether they are a Gröbner basis (``complete``), and the work done."""

    relations: tuple[Poly, ...]
    rules: tuple[Rule, ...]
    complete: bool
    steps: int
    seconds: float
    stopped: str = ""  # which cap stopped an incomplete run

    def to_json(self) -> dict:
        return {"complete": self.complete, "rules": len(self.rules), "steps": self.steps,
                "seconds": round(self.seconds, 6), "stopped": self.stopped or None}


def occurrences(pattern: Word, space: str, word: Word, word_space: str) -> Iterable[int]:
    """The positions i with word[i : i + len(pattern)] = pattern.

    An empty pattern (the identity of ``space``) occurs wherever the word passes through ``space``.
    """
    if not pattern:
        return [i for i, s in enumerate(vertices(word, word_space)) if s == space]
    n = len(pattern)
    return [i for i in range(len(word) - n + 1) if word[i : i + n] == pattern]


def _rule_space(rule: Rule) -> str:
    return rule.poly.rows


def _add_scaled(acc: dict, combination: Combination, c: Fraction, left: Word = (), right: Word = ()) -> None:
    for (u, i, v), d in combination.items():
        key = (left + u, i, v + right)
        value = acc.get(key, Fraction(0)) + c * d
        if value:
            acc[key] = value
        else:
            acc.pop(key, None)


class _Index:
    """Rules by the first letter of their leading word (empty leading words by space)."""

    def __init__(self, rules: Iterable[Rule]):
        self.by_letter: dict = {}
        self.empty: dict[str, Rule] = {}
        for r in rules:
            if r.lhs:
                self.by_letter.setdefault(r.lhs[0], []).append(r)
            else:
                self.empty.setdefault(_rule_space(r), r)

    def find(self, word: Word, space: str) -> tuple[Rule, int] | None:
        if self.empty:
            for i, s in enumerate(vertices(word, space)):
                if s in self.empty:
                    return self.empty[s], i
        for i, letter in enumerate(word):
            for r in self.by_letter.get(letter, ()):
                n = len(r.lhs)
                if word[i : i + n] == r.lhs:
                    return r, i
        return None


def reduce(f: Poly, rules: Sequence[Rule] | _Index) -> tuple[Poly, dict]:
    """(remainder, combination) with f = remainder + Σ c·u·rᵢ·v and no word of the remainder reducible.

    The combination is over the input relations (through each rule's origin).
    """
    index = rules if isinstance(rules, _Index) else _Index(rules)
    todo = dict(f.terms)
    rest: dict[Word, Fraction] = {}
    cert: dict = {}
    while todo:
        word = max(todo, key=word_key)
        c = todo.pop(word)
        hit = index.find(word, f.rows)
        if hit is None:
            rest[word] = c
            continue
        rule, i = hit
        left, right = word[:i], word[i + len(rule.lhs) :]
        for w, d in rule.poly.terms.items():
            full = left + w + right
            if full == word:
                continue
            value = todo.get(full, Fraction(0)) - c * d
            if value:
                todo[full] = value
            else:
                todo.pop(full, None)
        _add_scaled(cert, rule.origin, c, left, right)
    return Poly(f.rows, f.cols, rest), cert


def _monic(p: Poly, origin: Combination) -> Rule:
    lhs, lc = leading(p)
    inv = 1 / lc
    return Rule(lhs, Poly(p.rows, p.cols, {w: c * inv for w, c in p.terms.items()}),
                {k: c * inv for k, c in origin.items()})


def _overlaps(a: Rule, b: Rule) -> list[tuple[Word, Poly, dict]]:
    """S-polynomials of the proper overlaps lm(a) = X·Y, lm(b) = Y·Z (Y ≠ 1, X ≠ 1, Z ≠ 1)."""
    A, B = a.lhs, b.lhs
    found = []
    for k in range(1, min(len(A), len(B))):
        if A[len(A) - k :] != B[:k]:
            continue
        X, Z = A[: len(A) - k], B[k:]
        terms: dict[Word, Fraction] = {}
        for w, c in a.poly.terms.items():
            terms[w + Z] = terms.get(w + Z, Fraction(0)) + c
        for w, c in b.poly.terms.items():
            terms[X + w] = terms.get(X + w, Fraction(0)) - c
        s = Poly(a.poly.rows, b.poly.cols, {w: c for w, c in terms.items() if c})
        origin: dict = {}
        _add_scaled(origin, a.origin, Fraction(1), (), Z)
        _add_scaled(origin, b.origin, Fraction(-1), X, ())
        found.append((A + Z, s, origin))
    return found


def _contains(big: Rule, small: Rule) -> bool:
    return bool(occurrences(small.lhs, _rule_space(small), big.lhs, _rule_space(big)))


def complete(relations: Sequence[Poly], caps: Caps = Caps()) -> Completion:
    """Complete ``relations`` (their ideal) into a Gröbner basis under the deg-lex order, within ``caps``.

    Pairs are processed smallest overlap word first (the normal strategy); when the
    queue empties, every overlap of the final rules is checked once more, so a run
    marked complete is a Gröbner basis.
    """
    start = time.perf_counter()
    rels = tuple(relations)
    rules: dict[int, Rule] = {}
    queue: list[tuple[Poly, Combination]] = [(r, {((), i, ()): Fraction(1)}) for i, r in enumerate(rels) if r]
    pairs: list = []
    counter = 0
    steps = 0

    def stop(reason: str) -> Completion:
        return Completion(rels, tuple(sorted(rules.values(), key=lambda r: word_key(r.lhs))), False, steps,
                          time.perf_counter() - start, reason)

    def insert(p: Poly, origin: Combination) -> str | None:
        nonlocal counter
        rest, cert = reduce(p, list(rules.values()))
        if not rest:
            return None
        combined: dict = dict(origin)
        _add_scaled(combined, cert, Fraction(-1))
        new = _monic(rest, combined)
        if len(new.lhs) > caps.degree:
            return f"a rule of degree {len(new.lhs)} > {caps.degree}"
        for key, old in list(rules.items()):
            if _contains(old, new):
                del rules[key]
                queue.append((old.poly, old.origin))
        counter += 1
        rules[counter] = new
        for key, other in rules.items():
            for a, b in ((new, other), (other, new)) if key != counter else ((new, new),):
                for word, s, o in _overlaps(a, b):
                    heapq.heappush(pairs, (word_key(word), counter, key, id(s), s, o))
        if len(rules) > caps.rules + len(rels):
            return f"more than {caps.rules} rules beyond the {len(rels)} inputs"
        return None

    verified = False
    while True:
        while queue:
            p, origin = queue.pop()
            why = insert(p, origin)
            if why:
                return stop(why)
        if pairs:
            _, a, b, _, s, origin = heapq.heappop(pairs)
            if a not in rules or b not in rules:
                continue
            steps += 1
            if steps > caps.steps:
                return stop(f"more than {caps.steps} S-polynomials")
            queue.append((s, origin))
            verified = False
            continue
        if verified:
            break
        # Every overlap of the final rules once more: a rule dropped by an inclusion may have
        # carried the only resolution of some earlier pair.
        verified = True
        final = list(rules.values())
        for a in final:
            for b in final:
                for _, s, origin in _overlaps(a, b):
                    if reduce(s, final)[0]:
                        queue.append((s, origin))
        if queue:
            verified = False
    ordered = tuple(sorted(rules.values(), key=lambda r: word_key(r.lhs)))
    return Completion(rels, ordered, True, steps, time.perf_counter() - start)
