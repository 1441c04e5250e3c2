"""Reading a product definition first in a process (as init_database does, before any ODC connection) keeps
jsonschema from compiling rfc3987-syntax's grammars, and the definition is still validated."""

import json
import subprocess
import sys

SCRIPT = """
import json, sys
from antares.cube.index import read_product_definition
from antares.errors import InvalidInputError
from antares.resources import builtin_product_files
names = [read_product_definition(p)["name"] for p in builtin_product_files()]
bad = sys.argv[1]
try:
    read_product_definition(bad)
    refused = ""
except InvalidInputError as exc:
    refused = str(exc)
print(json.dumps({"names": names, "rfc3987_syntax": repr(sys.modules.get("rfc3987_syntax", "absent")),
                  "jsonschema": "jsonschema" in sys.modules, "refused": refused}))
"""


def test_first_product_definition_read_skips_the_iri_grammars(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: bad_product\nmetadata_type: eo3\nmeasurements: 7\n")
    done = subprocess.run([sys.executable, "-c", SCRIPT, str(bad)], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout.strip().splitlines()[-1])
    assert len(out["names"]) >= 1 and out["jsonschema"]  # validated through jsonschema
    assert out["rfc3987_syntax"] in ("None", "'absent'")  # no module object: its grammars were not built
    assert "product definition" in out["refused"] and "is invalid" in out["refused"]
