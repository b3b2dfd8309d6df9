-- A varied mix of catalog searches, the same for datalab and the peer:
-- one or two words, filters by organization, format or licence, sorts,
-- later pages, and a few match-everything listings; always five facets.
-- 2,000 distinct requests, chosen at random (fixed seed) by each thread.
-- Set TARGET before loading: "datalab" or "datasette".
local words = {"poblacion", "accidentes", "presupuesto", "educacion", "salud", "movilidad", "agua", "seguridad",
  "empleo", "inversion", "cultura", "museos", "escuelas", "hospitales", "transporte", "ciclovias", "parques",
  "residuos", "energia", "vivienda", "pobreza", "migracion", "turismo", "comercio", "industria", "contratos",
  "licitaciones", "nomina", "becas", "programas", "colonias", "municipios", "calles", "semaforos", "delitos",
  "denuncias", "incendios", "lluvias", "temperatura", "aire", "ruido", "arboles", "bibliotecas", "teatros",
  "festivales", "deportes", "gimnasios", "mercados", "precios", "salarios"}
local formats = {"CSV", "XLSX", "JSON", "PDF", "GeoJSON", "ZIP"}
local licenses = {"libre-uso-mx", "cc-by-4.0", "cc-by-sa-4.0", "cc-zero-1.0", "odc-odbl-1.0"}
math.randomseed(2026)
local function pick(list) return list[math.random(#list)] end
local function org() return string.format("dependencia-%02d", math.random(0, 49)) end

local function datalab_path()
  local facets = "&facet.field=%5B%22organization%22%2C%22groups%22%2C%22tags%22%2C%22res_format%22%2C%22license_id%22%5D"
  local kind = math.random(100)
  local q, fq, sort = "", "", ""
  if kind <= 40 then q = pick(words)
  elseif kind <= 60 then q = pick(words) .. "%20" .. pick(words)
  elseif kind <= 75 then fq = "&fq=organization:" .. org()
  elseif kind <= 85 then q = pick(words); fq = "&fq=res_format:" .. pick(formats)
  elseif kind <= 95 then q = pick(words); fq = "&fq=license_id:" .. pick(licenses)
  end -- else: everything
  local s = math.random(10)
  if s == 1 then sort = "&sort=name%20asc" elseif s == 2 then sort = "&sort=metadata_modified%20desc" end
  local start = (math.random(4) == 1) and "&start=20" or ""
  return "/api/3/action/package_search?q=" .. q .. fq .. sort .. start .. facets
end

local function datasette_path()
  local facets = "&_facet=organization&_facet=groups&_facet=license_id&_facet=res_format&private=0"
  local kind = math.random(100)
  local filter = ""
  if kind <= 40 then filter = "&_search=" .. pick(words)
  elseif kind <= 60 then filter = "&_search=" .. pick(words) .. "%20" .. pick(words)
  elseif kind <= 75 then filter = "&organization=" .. org()
  elseif kind <= 85 then filter = "&_search=" .. pick(words) .. "&res_format__contains=" .. pick(formats)
  elseif kind <= 95 then filter = "&_search=" .. pick(words) .. "&license_id=" .. pick(licenses)
  end
  local s = math.random(10)
  local sort = ""
  if s == 1 then sort = "&_sort=name" elseif s == 2 then sort = "&_sort_desc=rowid" end
  return "/peer/datasets.json?_size=10" .. filter .. sort .. facets
end

local paths = {}
for i = 1, 2000 do
  paths[i] = (TARGET == "datasette") and datasette_path() or datalab_path()
end
request = function()
  return wrk.format("GET", paths[math.random(#paths)])
end
