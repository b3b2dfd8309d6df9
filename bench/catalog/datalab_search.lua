TARGET = "datalab"
dofile("bench/catalog/mix.lua")
