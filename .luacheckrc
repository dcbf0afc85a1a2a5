-- luacheck settings for the Prosody modules this project ships (config files: see validate.py).
std = "lua54"
read_globals = { "module", "prosody" }
