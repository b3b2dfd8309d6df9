TARGET = "datasette"
dofile("bench/catalog/mix.lua")
