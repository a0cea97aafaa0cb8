from pathlib import Path

from returns import states

DOC = Path(__file__).resolve().parents[2] / "docs" / "claims.md"


def test_docs_state_table_is_the_code_table():
    text = DOC.read_text()
    documented = text.split("<!-- states:begin -->\n", 1)[1].split("<!-- states:end -->", 1)[0]
    assert documented == states.as_markdown()
