-- The same mix against Datasette: full-text search plus facet counts.
local facets = "&_facet=organization&_facet=groups&_facet=license_id&_facet=res_format&private=0"
local paths = {
  "/peer/datasets.json?_search=poblacion" .. facets,
  "/peer/datasets.json?_search=accidentes%20municipio" .. facets,
  "/peer/datasets.json?_sort=name" .. facets,
  "/peer/datasets.json?_search=salud&res_format__contains=CSV" .. facets,
  "/peer/datasets.json?organization=dependencia-07&_sort_desc=rowid" .. facets,
  "/peer/datasets.json?_search=agua%20potable&_size=20" .. facets,
  "/peer/datasets.json?_search=museos&license_id=cc-by-4.0" .. facets,
  "/peer/datasets.json?_search=educacion&_sort=name" .. facets,
}
local counter = 0
request = function()
  counter = counter + 1
  return wrk.format("GET", paths[(counter % #paths) + 1])
end
