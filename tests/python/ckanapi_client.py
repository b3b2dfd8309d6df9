"""Drives a running datalab with the official CKAN client, ckanapi, unchanged.

usage: ckanapi_client.py BASE_URL SYSADMIN_TOKEN
Exits non-zero (with the failing step) if anything differs from CKAN.
"""
import hashlib
import sys
import tempfile

import ckanapi
import requests

base, token = sys.argv[1], sys.argv[2]
ckan = ckanapi.RemoteCKAN(base, apikey=token, user_agent="datalab-tests")
anonymous = ckanapi.RemoteCKAN(base, user_agent="datalab-tests")


def step(name):
    print(f"- {name}", flush=True)


step("status_show")
status = anonymous.action.status_show()
assert status["site_title"] == "datalab", status

step("organization_create")
org = ckan.action.organization_create(name="sec-cultura", title="Secretaría de Cultura", description="Cultura de Nuevo León")
assert org["name"] == "sec-cultura"
assert "sec-cultura" in anonymous.action.organization_list()

step("package_create")
pkg = ckan.action.package_create(
    name="museos-de-nuevo-leon",
    title="Museos de Nuevo León",
    owner_org="sec-cultura",
    notes="Museos del estado con su municipio.",
    tags=[{"name": "museos"}, {"name": "patrimonio"}],
    license_id="cc-by-4.0",
    extras=[{"key": "fuente", "value": "Secretaría de Cultura"}],
)
assert pkg["organization"]["name"] == "sec-cultura"

step("resource_create with an uploaded file")
content = "nombre,municipio\nMuseo de Historia Mexicana,Monterrey\nMuseo del Palacio,Monterrey\nMuseo del Noreste,Monterrey\n".encode("utf-8") * 200
with tempfile.NamedTemporaryFile(suffix=".csv") as handle:
    handle.write(content)
    handle.flush()
    with open(handle.name, "rb") as upload:
        resource = ckan.action.resource_create(package_id=pkg["id"], name="Museos (CSV)", upload=upload)
assert resource["format"] == "CSV", resource
assert resource["size"] == len(content), resource
assert resource["hash"] == "sha256:" + hashlib.sha256(content).hexdigest(), resource

step("download returns the same bytes")
response = requests.get(resource["url"], timeout=30)
assert response.status_code == 200, response.status_code
assert response.content == content

step("resource_show and package_show")
assert ckan.action.resource_show(id=resource["id"])["name"] == "Museos (CSV)"
shown = anonymous.action.package_show(id="museos-de-nuevo-leon")
assert shown["num_resources"] == 1 and shown["resources"][0]["id"] == resource["id"]

step("package_search with q, fq and facets")
found = anonymous.action.package_search(q="museo", fq="organization:sec-cultura", **{"facet.field": ["tags"]})
assert found["count"] == 1, found
assert found["results"][0]["name"] == "museos-de-nuevo-leon"
assert found["facets"]["tags"]["patrimonio"] == 1, found["facets"]

step("package_patch and package_update round trip")
patched = ckan.action.package_patch(id=pkg["id"], version="2024")
assert patched["version"] == "2024" and patched["notes"] == pkg["notes"]
patched["title"] = "Museos de Nuevo León (actualizado)"
updated = ckan.action.package_update(**patched)
assert updated["title"].endswith("(actualizado)") and updated["num_resources"] == 1

step("errors map to ckanapi exceptions")
try:
    anonymous.action.package_show(id="no-existe")
    raise SystemExit("package_show of a missing dataset must fail")
except ckanapi.NotFound:
    pass
try:
    ckan.action.package_create(name="museos-de-nuevo-leon", owner_org="sec-cultura")
    raise SystemExit("a duplicate name must fail")
except ckanapi.ValidationError as error:
    assert "name" in error.error_dict, error.error_dict
try:
    anonymous.action.package_create(name="sin-permiso", owner_org="sec-cultura")
    raise SystemExit("an anonymous write must fail")
except ckanapi.NotAuthorized:
    pass
try:
    anonymous.action.package_search(rows=5000)
    raise SystemExit("rows above 1000 must fail")
except ckanapi.SearchQueryError:
    pass

step("package_activity_list and package_delete")
activity = anonymous.action.package_activity_list(id=pkg["id"])
assert activity[-1]["activity_type"] == "new package", activity
ckan.action.package_delete(id=pkg["id"])
assert "museos-de-nuevo-leon" not in anonymous.action.package_list()

print("ckanapi: all steps passed")
