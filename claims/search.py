"""Text folding shared by the search index and search queries, so both sides always agree."""

# Turkish has a dotted and a dotless i in both cases; a search for any of them should find
# all four, whichever language the text or the searcher uses.
_I_VARIANTS = str.maketrans({"İ": "i", "I": "i", "ı": "i"})


def fold(text):
    return " ".join(text.translate(_I_VARIANTS).lower().split())


def search_text(*fields):
    return fold(" ".join(field for field in fields if field))
