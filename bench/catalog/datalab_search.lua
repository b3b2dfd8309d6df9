-- A mix of catalog searches with all five facets, as a portal's search page makes them.
local facets = "&facet.field=%5B%22organization%22%2C%22groups%22%2C%22tags%22%2C%22res_format%22%2C%22license_id%22%5D"
local paths = {
  "/api/3/action/package_search?q=poblacion" .. facets,
  "/api/3/action/package_search?q=accidentes%20municipio" .. facets,
  "/api/3/action/package_search?q=" .. facets,
  "/api/3/action/package_search?q=salud&fq=res_format:CSV" .. facets,
  "/api/3/action/package_search?fq=organization:dependencia-07&sort=metadata_modified%20desc" .. facets,
  "/api/3/action/package_search?q=agua%20potable&rows=20&start=40" .. facets,
  "/api/3/action/package_search?q=museos&fq=license_id:cc-by-4.0" .. facets,
  "/api/3/action/package_search?q=educacion&sort=name%20asc" .. facets,
}
local counter = 0
request = function()
  counter = counter + 1
  return wrk.format("GET", paths[(counter % #paths) + 1])
end
