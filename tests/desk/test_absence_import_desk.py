"""*Importér fravær* on the desk: a school's absence CSV uploaded in Chromium, imported
whole or refused whole with every bad row in Danish; only school leaders and admins."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select

from desk.messages import absence_file_problem, absence_row_problem
from flows import clock
from persistence.absence import PUPILS, REGISTRATIONS, SchoolEntry, import_schools
from tests.conftest import LEADER, PPR, SAMRAAD_CASE

from .conftest import ADMIN, BROWSER_GROUP, DeskServer
from .helpers import accessible, sign_in
from .test_samraad_desk import counts

pytestmark = BROWSER_GROUP

GOOD = (
    "pupil_ref;school;grade;date;period;code\n"
    "elev-001;soeskolen;5;2026-03-02;morning;S\n"
    "elev-001;soeskolen;5;2026-03-03;morning;U\n"
    "elev-002;soeskolen;7;2026-03-02;lesson:3;F\n"
)

BAD = (
    "pupil_ref,school,grade,date,period,code\n"
    "elev-001,soeskolen,5,2026-03-02,morning,S\n"  # a good row: not imported either
    "elev-003,soeskolen,11,2026-03-02,morning,S\n"
    "elev-004,soeskolen,5,2.3.2026,morning,S\n"
    "0101011234,soeskolen,5,2026-03-02,morning,S\n"
    "elev-005,soeskolen,5,2026-03-02,lunch,S\n"
    "elev-006,soeskolen,5,2026-03-02,morning,X\n"
)


def csv_file(text: str | bytes, name: str = "fravaer.csv") -> dict[str, Any]:
    data = text.encode() if isinstance(text, str) else text
    return {"name": name, "mimeType": "text/csv", "buffer": data}


def stored(desk: DeskServer) -> tuple[int, int]:
    with desk.store.engine.connect() as conn:
        return (
            conn.execute(select(func.count()).select_from(REGISTRATIONS)).scalar_one(),
            conn.execute(select(func.count()).select_from(PUPILS)).scalar_one(),
        )


def upload(page: Any, text: str | bytes, school: str = "") -> str:
    page.locator("#fil").set_input_files(csv_file(text))
    field = page.locator("#skole")
    if field.evaluate("e => e.tagName") == "SELECT":  # a school leader: their own schools
        if school:
            field.select_option(school)
    else:
        field.fill(school)
    page.get_by_role("button", name="Importér filen").click()
    page.wait_for_load_state()
    accessible(page)
    return str(page.locator("main").inner_text())


SOESKOLEN = SchoolEntry(
    code="soeskolen",
    name="Søskolen",
    leader_name="Lene Leder",
    leader_email=LEADER,
    coordinator_name="Tovholder",
    coordinator_email="tovholder@kommune.example.dk",
)


def leader_signed_in(desk: DeskServer, new_page: Any) -> Any:
    """Søskolen's leader in the school directory, signed in, on the import page."""
    desk.store.open_case("samraad", SAMRAAD_CASE, clock.now())
    import_schools(desk.store.engine, [SOESKOLEN], now=clock.now())
    page = new_page()
    sign_in(page, desk, LEADER)
    page.get_by_role("link", name="Importér fravær").click()
    page.get_by_role("heading", name="Importér fravær").wait_for()
    accessible(page)
    return page


def test_a_school_leader_imports_a_good_file_and_sees_the_counts(
    desk_server: DeskServer, new_page: Any
) -> None:
    desk = desk_server
    page = leader_signed_in(desk, new_page)
    # A school leader on a samråd is not the coaches' coordinator: no link to capacity.
    assert page.get_by_role("link", name="Coachenes kapacitet").count() == 0

    shown = upload(page, GOOD)
    assert "Fraværet er importeret." in shown
    table = page.locator("main table").inner_text()
    assert "Registreringer i filen\t3" in table
    assert "Nye eller ændrede\t3" in table
    assert "Nye elever\t2" in table
    assert "Nye skoler" not in table  # the directory has it
    assert "2. mar. 2026 – 3. mar. 2026" in table
    assert stored(desk) == (3, 2)

    # The same file again changes nothing; with the school given, the column may be left out.
    shown = upload(page, GOOD.replace(";soeskolen", ";").replace(";school;", ";;"), "soeskolen")
    assert "Fraværet er importeret." in shown
    table = page.locator("main table").inner_text()
    assert "Nye eller ændrede\t0" in table and "Uændrede (fandtes i forvejen)\t3" in table
    assert stored(desk) == (3, 2)


def test_a_bad_file_is_refused_whole_with_every_row_in_danish(
    desk_server: DeskServer, new_page: Any
) -> None:
    desk = desk_server
    page = leader_signed_in(desk, new_page)
    before = counts(desk.store.engine)

    shown = upload(page, BAD)
    assert "Filen har 5 rækker med fejl. Intet er importeret." in shown
    rows = page.get_by_role("list", name="Rækker med fejl").inner_text().splitlines()
    assert rows == [
        "Linje 3: Klassetrinnet '11' er ikke et tal fra 0 til 10.",
        "Linje 4: Datoen '2.3.2026' er ikke en dato. Skriv den som ÅÅÅÅ-MM-DD.",
        "Linje 5: pupil_ref ligner et CPR-nummer. Brug elevens pseudonyme reference.",
        "Linje 6: Perioden 'lunch' skal være morning, end_of_day eller lesson:N (N fra 1 til 20).",
        "Linje 7: Koden 'X' skal være S, L, U, F eller T.",
    ]
    assert "0101011234" not in shown  # a CPR-like reference is never echoed
    assert counts(desk.store.engine) == before

    # A row for another school than the one given.
    shown = upload(page, GOOD.replace("elev-002;soeskolen", "elev-002;bakkeskolen"), "soeskolen")
    assert "Linje 4: Skolen er 'bakkeskolen', men du har angivet skolen 'soeskolen'" in shown
    # Another school than their own, posted as if the form had offered it.
    page.locator("#skole").evaluate("select => { select.options[0].value = 'bakkeskolen'; }")
    shown = upload(page, GOOD.replace(";soeskolen;", ";bakkeskolen;"))
    assert "Skole: Vælg din egen skole. Du kan kun importere fravær for den skole" in shown
    assert page.locator("#skole").get_attribute("aria-invalid") == "true"
    # The whole file: a header without its columns, text that is not UTF-8, an empty file.
    shown = upload(page, "elev;dato\nelev-001;2026-03-02\n")
    # (The school is chosen in the form, so the file may leave its column out.)
    assert "Overskriften (første linje) mangler: pupil_ref, grade, date" in shown
    shown = upload(page, GOOD.encode("utf-16"))
    assert "Filen er ikke UTF-8-tekst" in shown
    shown = upload(page, b"")
    assert "Filen er tom." in shown
    # No file chosen at all.
    page.get_by_role("button", name="Importér filen").click()
    page.wait_for_load_state()
    accessible(page)
    assert "Vælg fraværsfilen (CSV)." in page.locator("main").inner_text()
    # Larger than 5 MB: one line, nothing read into the database.
    shown = upload(page, GOOD + "elev-009;soeskolen;5;2026-03-04;morning;S\n" * 130_000)
    assert "Filen er for stor: højst 5 MB." in shown
    assert counts(desk.store.engine) == before
    assert stored(desk) == (0, 0)


def test_an_upload_without_its_csrf_token_is_refused(
    desk_server: DeskServer, new_page: Any
) -> None:
    desk = desk_server
    page = leader_signed_in(desk, new_page)
    before = counts(desk.store.engine)
    page.locator('main [name="csrf"]').evaluate("input => input.remove()")
    page.locator("#fil").set_input_files(csv_file(GOOD))
    page.get_by_role("button", name="Importér filen").click()
    page.wait_for_load_state()
    assert "Formularen blev afvist" in page.locator("body").inner_text()
    # A forged token, as a file upload and as a plain form: refused just the same.
    forged = page.request.post(
        f"{desk.url}/fravaer/import",
        multipart={"csrf": "forged", "fil": csv_file(GOOD)},
    )
    assert forged.status == 403
    plain = page.request.post(f"{desk.url}/fravaer/import", form={"csrf": "forged"})
    assert plain.status == 403
    assert counts(desk.store.engine) == before
    assert stored(desk) == (0, 0)


def test_only_school_leaders_and_admins_may_import(desk_server: DeskServer, new_page: Any) -> None:
    desk = desk_server
    desk.store.open_case("samraad", SAMRAAD_CASE, clock.now())
    # School leader on a samråd, but of no school in the directory: which school's absence
    # would they hand in? No import for them.
    unlisted = new_page()
    sign_in(unlisted, desk, LEADER)
    assert unlisted.get_by_role("link", name="Importér fravær").count() == 0
    # A PPR psychologist on the same samråd: no link, and the page does not exist for them.
    page = new_page()
    sign_in(page, desk, PPR)
    assert page.get_by_role("link", name="Importér fravær").count() == 0
    answer = page.goto(f"{desk.url}/fravaer/import")
    assert answer is not None and answer.status == 404
    assert "Siden findes ikke" in page.locator("main").inner_text()
    accessible(page)
    # Nor may they post to it (with their own valid token).
    token = page.evaluate("document.querySelector('[name=csrf]').value")
    posted = page.request.post(
        f"{desk.url}/fravaer/import", multipart={"csrf": token, "fil": csv_file(GOOD)}
    )
    assert posted.status == 404
    assert stored(desk) == (0, 0)

    # An admin may (their view has no names; the counts have none either).
    admin = new_page()
    sign_in(admin, desk, ADMIN)
    admin.get_by_role("link", name="Importér fravær").click()
    # An admin types the school code, if any: a malformed one is refused in Danish.
    shown = upload(admin, GOOD, "Søskolen ved søen")
    assert "Skolekode: Skriv en skolekode" in shown
    assert admin.locator("#skole").get_attribute("aria-invalid") == "true"
    assert stored(desk) == (0, 0)
    assert "Fraværet er importeret." in upload(admin, GOOD)
    assert stored(desk) == (3, 2)


def test_every_csv_reason_has_its_danish_text() -> None:
    """The catalogue covers each reason ``flows.absence_csv`` gives for a registration."""
    import io

    import pytest

    from desk.messages import UPLOAD_NAME
    from flows import absence_csv
    from machines import InvalidInput

    def refusal(text: str, school: str | None = None) -> list[str]:
        stream = io.StringIO(text)
        with pytest.raises(InvalidInput) as caught:
            for _ in absence_csv.read_registrations(stream, name=UPLOAD_NAME, school=school):
                pass
        exc = caught.value
        if isinstance(exc, absence_csv.RefusedFile):
            return [absence_row_problem(p.reason) for p in exc.problems]
        return [absence_file_problem(str(exc))]

    fallback_row = absence_row_problem("something new")
    fallback_file = absence_file_problem("something new")
    header = "pupil_ref,school,grade,date,period,code\n"
    for text, school in [
        (header + "a,b\n", None),
        (header + "Ida Æblegaard,s,5,2026-03-02,morning,S\n", None),
        (header + "e1,,5,2026-03-02,morning,S\n", None),
        (header + "e1,sk ole,5,2026-03-02,morning,S\n", None),
        (header + "e1,anden,5,2026-03-02,morning,S\n", "skole"),
        (header + "e1,s,5,2026-03-02,lesson:99,S\n", None),
        ("", None),
        ("pupil_ref\n", None),
        (header + 'e1,"s,5,2026-03-02,morning,S\n', None),
    ]:
        for danish in refusal(text, school):
            assert danish not in (fallback_row, fallback_file), (text, danish)
