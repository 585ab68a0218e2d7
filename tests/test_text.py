"""The shared normaliser: NFKC and whitespace, but numeric answer slots kept."""

from medprefs.text import normalize_text


def test_width_and_spaces_are_folded():
    assert normalize_text("　３８．５℃、 ＣＲＰ\t８．６ｍｇ／ｄＬ。 \r\n\r\n\r\n次の行 ") == "38.5°C、 CRP 8.6mg/dL。\n\n次の行"


def test_circled_answer_slots_survive_nfkc():
    assert normalize_text("ＢＭＩを求めよ。解答：①．② ") == "BMIを求めよ。解答:①.②"
    assert normalize_text("①②③") == "①②③"
