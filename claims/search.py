"""Claim search: the folding shared by the index and the queries, and the query itself.

Identifiers (return code, tracking number, package item, product) are matched anywhere inside
them through a trigram index, because agents paste fragments of codes. The customer's text is
matched word by word (each word a prefix) through a full-text index: trigrams over free text
cost several times more to maintain on every sync and match no better for words.
"""

import re

from django.contrib.postgres.search import SearchQuery
from django.db.models import Q, Value
from django.db.models.functions import Lower, Replace
from django.utils import translation

_WORD = re.compile(r"\w+")
MAX_SEARCH_WORDS = 8


def fold(text):
    # Turkish has a dotted and a dotless i in both cases; a search for any of them finds all
    # four, whichever language the text or the searcher uses. (Chained replace() is several
    # times faster than str.translate with a mapping, and the sync folds every claim.)
    text = text.replace("İ", "i").replace("I", "i").replace("ı", "i")
    return " ".join(text.lower().split())


def folded(column):
    """fold() done by PostgreSQL on a column, for exact matches that ignore case and i's."""
    expression = column
    for letter in ("İ", "I", "ı"):
        expression = Replace(expression, Value(letter), Value("i"))
    return Lower(expression)


def code_text(*fields):
    return fold(" ".join(field for field in fields if field))


def matching(claims, query):
    folded = fold(query)
    condition = Q(search_codes__contains=folded)
    words = _WORD.findall(folded)[:MAX_SEARCH_WORDS]
    if words:
        prefixes = " & ".join(f"{word}:*" for word in words)
        condition |= Q(search_words=SearchQuery(prefixes, search_type="raw", config="simple"))
    return claims.filter(condition)


# The Turkish alphabet, with the few letters only English uses (q, w, x) where English has
# them; the database's collation (often C) would put ç, ğ, ı, ö, ş and ü after z.
_ALPHABET = "aâbcçdefgğhıiîjklmnoöpqrsştuûüvwxyz"
_RANK = {letter: rank for rank, letter in enumerate(_ALPHABET)}


def sort_key(text):
    """The order of a list people scan (reasons in a filter): alphabetical as a Turkish
    reader expects, case ignored, which leaves English words in their usual order."""
    text = text or ""
    if (translation.get_language() or "").startswith("tr"):
        text = text.replace("I", "ı").replace("İ", "i")
    key = []
    for character in text.lower():
        rank = _RANK.get(character)
        key.append(
            (1, rank) if rank is not None else (0 if character < "a" else 2, ord(character))
        )
    return key, text
