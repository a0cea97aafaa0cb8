from pathlib import Path

from refunds import states

DOCS = Path(__file__).resolve().parents[2] / "docs" / "refunds.md"


def test_the_docs_show_the_state_table_as_the_code_has_it():
    text = DOCS.read_text()
    table = text.split("<!-- refund-states:begin -->\n", 1)[1].split("<!-- refund-states:end -->", 1)[0]

    assert table == states.as_markdown()
