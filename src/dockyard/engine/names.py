"""Container names: Docker's `adjective_surname` generator and the name rule; no I/O."""

from __future__ import annotations

import random
import re

from dockyard.errors import InvalidArgument

NAME_RE = re.compile(r"/?[a-zA-Z0-9][a-zA-Z0-9_.-]+")

ADJECTIVES = (
    "admiring", "adoring", "affectionate", "agitated", "amazing", "angry", "awesome", "beautiful", "blissful",
    "bold", "boring", "brave", "busy", "charming", "clever", "compassionate", "competent", "condescending",
    "confident", "cool", "cranky", "crazy", "dazzling", "determined", "distracted", "dreamy", "eager", "ecstatic",
    "elastic", "elated", "elegant", "eloquent", "epic", "exciting", "fervent", "festive", "flamboyant", "focused",
    "friendly", "frosty", "funny", "gallant", "gifted", "goofy", "gracious", "great", "happy", "hardcore",
    "heuristic", "hopeful", "hungry", "infallible", "inspiring", "intelligent", "interesting", "jolly", "jovial",
    "keen", "kind", "laughing", "loving", "lucid", "magical", "modest", "musing", "mystifying", "naughty",
    "nervous", "nice", "nifty", "nostalgic", "objective", "optimistic", "peaceful", "pedantic", "pensive",
    "practical", "priceless", "quirky", "quizzical", "recursing", "relaxed", "reverent", "romantic", "sad",
    "serene", "sharp", "silly", "sleepy", "stoic", "strange", "stupefied", "suspicious", "sweet", "tender",
    "thirsty", "trusting", "unruffled", "upbeat", "vibrant", "vigilant", "vigorous", "wizardly", "wonderful",
    "xenodochial", "youthful", "zealous", "zen",
)  # fmt: skip

SURNAMES = (
    "agnesi", "albattani", "allen", "almeida", "archimedes", "ardinghelli", "aryabhata", "austin", "babbage",
    "banach", "bardeen", "bartik", "bassi", "bell", "bhabha", "bhaskara", "blackwell", "bohr", "booth", "borg",
    "bose", "boyd", "brahmagupta", "brattain", "brown", "carson", "chandrasekhar", "clarke", "colden", "cori",
    "cray", "curie", "darwin", "davinci", "dijkstra", "dubinsky", "easley", "einstein", "elion", "engelbart",
    "euclid", "euler", "fermat", "fermi", "feynman", "franklin", "galileo", "gates", "goldberg", "goldstine",
    "goodall", "hamilton", "hawking", "heisenberg", "hertz", "hodgkin", "hopper", "hugle", "hypatia", "jang",
    "jennings", "jepsen", "joliot", "jones", "kalam", "keller", "kepler", "khorana", "kilby", "knuth",
    "lalande", "lamarr", "leakey", "leavitt", "lovelace", "lumiere", "mayer", "mccarthy", "mcclintock",
    "meitner", "mendel", "minsky", "mirzakhani", "montalcini", "morse", "napier", "newton", "nightingale",
    "nobel", "noether", "northcutt", "noyce", "pare", "pascal", "pasteur", "payne", "perlman", "pike",
    "poincare", "ptolemy", "raman", "ramanujan", "ride", "ritchie", "rosalind", "sammet", "shannon", "shaw",
    "shockley", "sinoussi", "snyder", "spence", "stonebraker", "swanson", "swartz", "tesla", "thompson",
    "torvalds", "turing", "varahamihira", "visvesvaraya", "volhard", "wescoff", "wiles", "williams", "wilson",
    "wing", "wozniak", "wright", "wu", "yalow", "yonath", "zhukovsky",
)  # fmt: skip


def random_name(retry: int = 0, rng: random.Random | None = None) -> str:
    """`adjective_surname`; after a collision Docker appends a digit (`retry` > 0). Never `boring_wozniak`."""
    r = rng or random.Random()
    while True:
        name = f"{r.choice(ADJECTIVES)}_{r.choice(SURNAMES)}"
        if name != "boring_wozniak":  # Steve Wozniak is not boring (moby's namesgenerator)
            break
    return f"{name}{r.randint(0, 9)}" if retry > 0 else name


def validate_name(name: str) -> str:
    """The name without a leading slash; raises Docker's message for names outside [a-zA-Z0-9][a-zA-Z0-9_.-]+."""
    if not NAME_RE.fullmatch(name):
        raise InvalidArgument(f"Invalid container name ({name}), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed")
    return name.removeprefix("/")
