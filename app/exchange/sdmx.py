"""SDMX: the figures as SDMX-CSV 2.0, and their data structure and dataflow as SDMX-ML 3.0.

One dataflow, `AGENCY:DF_INDICATORS(1.0)`, over the data structure `DSD_INDICATORS`: dimensions
INDICATOR and DEPARTMENT (coded by the catalogue's codes) and TIME_PERIOD (the year), measure
OBS_VALUE (the exact decimal), observation attributes UNIT_MEASURE (the indicator's unit, as text),
OBS_STATUS (`A` for an exact figure, `E` an estimate: at least, more than, approximately), QUALIFIER
(this service's qualifier, coded) and COMMENT (the note).
"""

import csv
import datetime as dt
import io
import uuid
from collections.abc import Iterable
from typing import Final
from xml.etree import ElementTree as ET

from sqlalchemy.orm import Session

from app.core.json import decimal_text
from app.exchange import figures
from app.observations.models import Qualifier

AGENCY: Final = "INDICATORS"
VERSION: Final = "1.0"
DATAFLOW: Final = "DF_INDICATORS"
DSD: Final = "DSD_INDICATORS"
STRUCTURE_ID: Final = f"{AGENCY}:{DATAFLOW}({VERSION})"
CSV_MEDIA_TYPE: Final = "application/vnd.sdmx.data+csv; version=2.0.0"
XML_MEDIA_TYPE: Final = "application/vnd.sdmx.structure+xml; version=3.0.0"
HEADER: Final = (
    "STRUCTURE",
    "STRUCTURE_ID",
    "ACTION",
    "INDICATOR",
    "DEPARTMENT",
    "TIME_PERIOD",
    "OBS_VALUE",
    "UNIT_MEASURE",
    "OBS_STATUS",
    "QUALIFIER",
    "COMMENT",
)
QUALIFIER_NAMES: Final = {
    Qualifier.exact: ("精确", "exact"),
    Qualifier.at_least: ("至少", "at least"),
    Qualifier.more_than: ("超过", "more than"),
    Qualifier.approximately: ("约", "approximately"),
}
STATUS_NAMES: Final = {"A": ("正常值", "Normal value"), "E": ("估计值", "Estimated value")}
CONCEPTS: Final = {
    "INDICATOR": ("指标", "Indicator"),
    "DEPARTMENT": ("部门", "Department"),
    "TIME_PERIOD": ("年度", "Year"),
    "OBS_VALUE": ("数值", "Value"),
    "UNIT_MEASURE": ("单位", "Unit"),
    "OBS_STATUS": ("状态", "Observation status"),
    "QUALIFIER": ("限定", "Qualifier"),
    "COMMENT": ("备注", "Note"),
}

_NS = {
    "mes": "http://www.sdmx.org/resources/sdmxml/schemas/v3_0/message",
    "str": "http://www.sdmx.org/resources/sdmxml/schemas/v3_0/structure",
    "com": "http://www.sdmx.org/resources/sdmxml/schemas/v3_0/common",
}
for _prefix, _uri in _NS.items():
    ET.register_namespace(_prefix, _uri)
_LANG = "{http://www.w3.org/XML/1998/namespace}lang"
_URN = "urn:sdmx:org.sdmx.infomodel"


def status(qualifier: str) -> str:
    return "A" if qualifier == Qualifier.exact else "E"


def csv_bytes(session: Session, wanted: figures.Wanted) -> bytes:
    """The matching figures as SDMX-CSV 2.0: UTF-8 without a BOM (a machine format), one line each."""
    units = {code: indicator.unit for code, indicator in figures.catalogue(session).items()}
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(HEADER)
    for o in figures.read(session, wanted):
        writer.writerow(
            (
                "dataflow",
                STRUCTURE_ID,
                "I",
                o.indicator,
                o.department,
                o.year,
                decimal_text(o.value),
                units.get(o.indicator) or "",
                status(o.qualifier),
                str(o.qualifier),
                o.note or "",
            )
        )
    return buffer.getvalue().encode()


def _el(parent: ET.Element, tag: str, text: str | None = None, **attrs: str) -> ET.Element:
    prefix, name = tag.split(":")
    element = ET.SubElement(parent, f"{{{_NS[prefix]}}}{name}", attrs)
    if text is not None:
        element.text = text
    return element


def _names(parent: ET.Element, zh: str, en: str | None) -> None:
    _el(parent, "com:Name", zh, **{_LANG: "zh"})
    if en:
        _el(parent, "com:Name", en, **{_LANG: "en"})


def _maintainable(parent: ET.Element, tag: str, id_: str, zh: str, en: str, **attrs: str) -> ET.Element:
    element = _el(parent, tag, id=id_, version=VERSION, isExternalReference="false", agencyID=AGENCY, **attrs)
    _names(element, zh, en)
    return element


def _codelist(
    parent: ET.Element, id_: str, zh: str, en: str, codes: Iterable[tuple[str, str, str | None]]
) -> None:
    codelist = _maintainable(parent, "str:Codelist", id_, zh, en, isPartial="false")
    for code, name, name_en in codes:
        _names(_el(codelist, "str:Code", id=code), name, name_en)


def _concept(id_: str) -> str:
    return f"{_URN}.conceptscheme.Concept={AGENCY}:CS_INDICATORS({VERSION}).{id_}"


def _codelist_urn(id_: str) -> str:
    return f"{_URN}.codelist.Codelist={AGENCY}:{id_}({VERSION})"


def _component(
    parent: ET.Element, tag: str, id_: str, *, codes: str | None = None, text: str | None = None, **attrs: str
) -> ET.Element:
    component = _el(parent, tag, id=id_, **attrs)
    _el(component, "str:ConceptIdentity", _concept(id_))
    representation = _el(component, "str:LocalRepresentation")
    if codes is not None:
        _el(representation, "str:Enumeration", _codelist_urn(codes))
    else:
        _el(representation, "str:TextFormat", textType=text or "String")
    return component


def _attribute(parent: ET.Element, id_: str, *, codes: str | None = None, mandatory: bool = False) -> None:
    attribute = _component(
        parent, "str:Attribute", id_, codes=codes, usage="mandatory" if mandatory else "optional"
    )
    _el(_el(attribute, "str:AttributeRelationship"), "str:Observation")
    _el(_el(attribute, "str:MeasureRelationship"), "str:Measure", "OBS_VALUE")


def structure_bytes(session: Session, *, now: dt.datetime | None = None) -> bytes:
    """The dataflow, its data structure, codelists and concepts as an SDMX-ML 3.0 structure message."""
    root = ET.Element(f"{{{_NS['mes']}}}Structure")
    header = _el(root, "mes:Header")
    _el(header, "mes:ID", f"IREF{uuid.uuid4().hex[:16]}")
    _el(header, "mes:Test", "false")
    prepared = (now or dt.datetime.now(dt.UTC)).strftime("%Y-%m-%dT%H:%M:%SZ")
    _el(header, "mes:Prepared", prepared)
    _el(header, "mes:Sender", id=AGENCY)
    structures = _el(root, "mes:Structures")

    flows = _el(structures, "str:Dataflows")
    flow = _maintainable(flows, "str:Dataflow", DATAFLOW, "绩效指标", "Performance indicators")
    _el(flow, "str:Structure", f"{_URN}.datastructure.DataStructure={AGENCY}:{DSD}({VERSION})")

    lists = _el(structures, "str:Codelists")
    catalogue = figures.catalogue(session)
    _codelist(lists, "CL_DEPARTMENT", "部门", "Departments", figures.department_names(session))
    _codelist(
        lists,
        "CL_INDICATOR",
        "指标",
        "Indicators",
        sorted((code, i.name, i.name_en) for code, i in catalogue.items()),
    )
    _codelist(
        lists, "CL_OBS_STATUS", "观测状态", "Observation status", ((c, *n) for c, n in STATUS_NAMES.items())
    )
    _codelist(lists, "CL_QUALIFIER", "限定", "Qualifiers", ((str(q), *n) for q, n in QUALIFIER_NAMES.items()))

    schemes = _el(structures, "str:ConceptSchemes")
    scheme = _maintainable(
        schemes, "str:ConceptScheme", "CS_INDICATORS", "概念", "Concepts", isPartial="false"
    )
    for id_, (zh, en) in CONCEPTS.items():
        _names(_el(scheme, "str:Concept", id=id_, urn=_concept(id_)), zh, en)

    dsds = _el(structures, "str:DataStructures")
    dsd = _maintainable(dsds, "str:DataStructure", DSD, "绩效指标数据结构", "Performance indicators")
    components = _el(dsd, "str:DataStructureComponents")
    dimensions = _el(components, "str:DimensionList")
    _component(dimensions, "str:Dimension", "INDICATOR", codes="CL_INDICATOR", position="1")
    _component(dimensions, "str:Dimension", "DEPARTMENT", codes="CL_DEPARTMENT", position="2")
    _component(dimensions, "str:TimeDimension", "TIME_PERIOD", text="ObservationalTimePeriod")
    attributes = _el(components, "str:AttributeList")
    _attribute(attributes, "UNIT_MEASURE")
    _attribute(attributes, "OBS_STATUS", codes="CL_OBS_STATUS", mandatory=True)
    _attribute(attributes, "QUALIFIER", codes="CL_QUALIFIER", mandatory=True)
    _attribute(attributes, "COMMENT")
    measures = _el(components, "str:MeasureList")
    _component(measures, "str:Measure", "OBS_VALUE", text="Decimal")
    text: bytes = ET.tostring(root, encoding="utf-8", xml_declaration=False)
    return b'<?xml version="1.0" encoding="UTF-8"?>\n' + text
