import pytest

from claims.models import Claim
from claims.search import fold, matching
from claims.sync import sync_everything

pytestmark = pytest.mark.django_db


@pytest.fixture
def claim(sandbox):
    sync_everything()
    target = Claim.objects.filter(type="refund").exclude(return_code="").first()
    sandbox.update_claim(target.pk, detail="Kargo KIRIK geldi.\nIşık yanmıyor, iade istiyorum.")
    sync_everything()
    return target


def found(query):
    return set(matching(Claim.objects.all(), query).values_list("pk", flat=True))


def test_a_fragment_of_a_return_code_finds_its_claim(claim):
    assert claim.pk in found(claim.return_code[3:])


def test_a_word_of_the_customers_text_finds_the_claim_by_its_start(claim):
    assert claim.pk in found("yanmı")
    assert claim.pk in found("iade isti")


@pytest.mark.parametrize("query", ["kırık", "KIRIK", "kirik", "KİRİK", "ışık", "IŞIK", "işik"])
def test_dotted_and_dotless_i_match_in_both_directions(claim, query):
    assert claim.pk in found(query)


def test_words_that_are_not_there_find_nothing(claim):
    assert claim.pk not in found("kırık ekran")


def test_tsquery_syntax_in_a_search_is_plain_text(claim):
    assert found("kırık & | ! :* (") == found("kırık")


def test_folding_treats_every_i_alike():
    assert fold("İstanbul ILIK ılık") == "istanbul ilik ilik"
