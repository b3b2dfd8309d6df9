-- (a) A filtered, sorted page of 100 rows: one of the 51 municipalities
-- (rotating), sorted by damages descending. Set TARGET and RESOURCE first.
local municipios = {"Monterrey", "Guadalupe", "Apodaca", "San%20Nicol%C3%A1s%20de%20los%20Garza", "General%20Escobedo",
  "Santa%20Catarina", "Ju%C3%A1rez", "Garc%C3%ADa", "San%20Pedro%20Garza%20Garc%C3%ADa", "Cadereyta%20Jim%C3%A9nez"}
local counter = 0
request = function()
  counter = counter + 1
  local m = municipios[(counter % #municipios) + 1]
  if TARGET == "datalab" then
    local filters = "%7B%22municipio%22%3A%22" .. m .. "%22%7D"
    return wrk.format("GET", "/api/3/action/datastore_search?resource_id=" .. RESOURCE ..
      "&filters=" .. filters .. "&sort=monto_danios%20desc&limit=100")
  else
    return wrk.format("GET", "/sqlite/incidentes.json?municipio=" .. m .. "&_sort_desc=monto_danios&_size=100")
  end
end
