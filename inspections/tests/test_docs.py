from pathlib import Path

from inspections import outcomes

DOC = Path(__file__).resolve().parents[2] / "docs" / "inspections.md"


def test_docs_outcome_table_is_the_code_table():
    text = DOC.read_text()
    documented = text.split("<!-- outcomes:begin -->\n", 1)[1].split("<!-- outcomes:end -->", 1)[0]
    assert documented == outcomes.as_markdown()
